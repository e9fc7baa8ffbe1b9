module github.com/mongosession/mongosession/gorillastore

go 1.25.0

require github.com/mongosession/mongosession v0.0.0

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/gorilla/sessions v1.4.0 // indirect
)

replace github.com/mongosession/mongosession => ..
