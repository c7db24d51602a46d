package policy

import "testing"

// Add puts e in the table until t ends, as a line of table does: a test's
// policy goes through the very registry the shipped ones do. Tests that
// call it must not run in parallel with others of the package.
func Add(t testing.TB, e Entry) {
	t.Helper()
	n := len(table)
	table = append(table[:n:n], e)
	t.Cleanup(func() { table = table[:n] })
}
