// The admin command is a module of its own, so that its progress bar and
// terminal dependencies never enter the build list of a program that
// imports mongosession.
//
// Released with the library modules (see RELEASING.md, and Published in
// internal/releasetest): "go install .../cmd/mongosession@version" refuses a
// module whose go.mod has a replace directive, so this one has none; in the
// repository, go.work supplies the root from the working tree.
module github.com/mongosession/mongosession/cmd/mongosession

go 1.25.0

require (
	github.com/creack/pty v1.1.24
	github.com/mongosession/mongosession v0.1.0
	github.com/schollz/progressbar/v3 v3.19.1
	go.mongodb.org/mongo-driver/v2 v2.10.0
	golang.org/x/term v0.45.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/xdg-go/scram v1.4.0 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	github.com/youmark/pkcs8 v0.0.0-20240726163527-a2c0da244d78 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
