module github.com/mongosession/mongosession/ginstore

go 1.25.0

require github.com/mongosession/mongosession v0.0.0

replace github.com/mongosession/mongosession => ..
