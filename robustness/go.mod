module github.com/mongosession/mongosession/robustness

go 1.25.0

replace (
	github.com/mongosession/mongosession => ..
	github.com/mongosession/mongosession/fiberstore => ../fiberstore
	github.com/mongosession/mongosession/gorillastore => ../gorillastore
)

require (
	github.com/alexedwards/scs/v2 v2.9.0
	github.com/anishathalye/porcupine v1.3.1
	github.com/gofiber/fiber/v3 v3.1.0
	github.com/gorilla/sessions v1.4.0
	github.com/mongosession/mongosession v0.1.0
	github.com/mongosession/mongosession/fiberstore v0.1.0
	github.com/mongosession/mongosession/gorillastore v0.1.0
	go.mongodb.org/mongo-driver/v2 v2.10.0
)

require (
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/gofiber/schema v1.7.0 // indirect
	github.com/gofiber/utils/v2 v2.0.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/tinylib/msgp v1.6.3 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	github.com/valyala/fasthttp v1.69.0 // indirect
	github.com/xdg-go/scram v1.4.0 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	github.com/youmark/pkcs8 v0.0.0-20240726163527-a2c0da244d78 // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
