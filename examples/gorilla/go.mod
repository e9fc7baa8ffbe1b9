module github.com/mongosession/mongosession/examples/gorilla

go 1.25.0

require github.com/mongosession/mongosession v0.0.0

replace github.com/mongosession/mongosession => ../..

require github.com/mongosession/mongosession/testserver v0.0.0

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/gorilla/sessions v1.4.0 // indirect
)

replace github.com/mongosession/mongosession/testserver => ../../testserver
