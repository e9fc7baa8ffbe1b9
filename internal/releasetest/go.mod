module github.com/mongosession/mongosession/internal/releasetest

go 1.25.0

require golang.org/x/mod v0.38.0
