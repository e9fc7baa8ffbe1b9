// Package servererr names the MongoDB server error codes that the engine,
// the faces and the tools branch on, in one place, and tests an error for
// them.
package servererr

import (
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
// It looks at every server error in err's tree, through both Unwrap() error
// and Unwrap() []error (errors.Join, fmt.Errorf with several %w), not only
// the first one errors.As would find: an error joining a createIndexes
// conflict with collMod's Unauthorized has Unauthorized.
func Has(err error, codes ...int) bool {
	if err == nil {
		return false
	}
	if se, ok := err.(mongo.ServerError); ok {
		for _, c := range codes {
			if se.HasErrorCode(c) {
				return true
			}
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return Has(u.Unwrap(), codes...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if Has(e, codes...) {
				return true
			}
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
