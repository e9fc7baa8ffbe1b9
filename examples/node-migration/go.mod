module github.com/mongosession/mongosession/examples/node-migration

go 1.25.0

require github.com/mongosession/mongosession v0.1.0

replace github.com/mongosession/mongosession => ../..

require github.com/mongosession/mongosession/testserver v0.0.0

replace github.com/mongosession/mongosession/testserver => ../../testserver
