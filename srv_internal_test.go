package mongosession

import "testing"

// TestSRVDatabase: the database of a mongodb+srv URI is read from its path
// without a DNS lookup, as the driver would read it.
func TestSRVDatabase(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb+srv://cluster0.example.net":                     "",
		"mongodb+srv://cluster0.example.net/":                    "",
		"mongodb+srv://cluster0.example.net/app":                 "app",
		"mongodb+srv://u:p%2Fq@cluster0.example.net/app?w=major": "app",
		"MONGODB+SRV://cluster0.example.net/my%20db#frag":        "my db",
		"mongodb+srv://cluster0.example.net/?authSource=admin":   "",
	} {
		got, err := srvDatabase(uri)
		if err != nil || got != want {
			t.Errorf("srvDatabase(%q) = %q, %v; want %q", uri, got, err, want)
		}
	}
	if _, err := srvDatabase("mongodb+srv://h/db%zz"); err == nil {
		t.Error("a bad escape in the database name was accepted")
	}
}
