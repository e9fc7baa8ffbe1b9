// Package servererr names the MongoDB server error codes that the engine,
// the faces and the tools branch on, in one place, and tests an error for
// them.
package servererr

import (
	"errors"

	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Codes of the server's errors (MongoDB's error_codes.yml; FerretDB answers
// with the same codes).
const (
	BadValue              = 2
	Unauthorized          = 13
	TypeMismatch          = 14
	NamespaceNotFound     = 26
	PathNotViable         = 28 // an update's path goes through a field that is not a document
	CommandNotFound       = 59
	IndexOptionsConflict  = 85
	IndexKeySpecsConflict = 86
	NotImplemented        = 238
	// An update would make a document larger than 16 MiB: MongoDB's
	// BSONObjectTooLarge, and 17419 in the versions that had no name for it.
	DocumentTooLarge        = 10334
	UpdatedDocumentTooLarge = 17419
)

// Has reports whether err is, or wraps, a server error with one of codes.
func Has(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}

// Transient reports whether err is a server error of a replica set changing
// hands or a server going down (the driver's retryable-error codes):
// retrying later may succeed.
func Transient(err error) bool {
	return Has(err,
		6,     // HostUnreachable
		7,     // HostNotFound
		89,    // NetworkTimeout
		91,    // ShutdownInProgress
		189,   // PrimarySteppedDown
		262,   // ExceededTimeLimit
		9001,  // SocketException
		10107, // NotWritablePrimary
		11600, // InterruptedAtShutdown
		11602, // InterruptedDueToReplStateChange
		13435, // NotPrimaryNoSecondaryOk
		13436, // NotPrimaryOrSecondary
	)
}
