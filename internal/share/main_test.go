package share

import (
	"os"
	"testing"
)

// The tests of the cache's mechanics run wherever their temporary
// directories lie, an image file system too (a container's overlay root,
// whose listings and copies the cache would otherwise leave out):
// TestImagesAreLeftOut tests what it leaves out.
func TestMain(m *testing.M) {
	readImages = func() (Images, bool) { return nil, true }
	os.Exit(m.Run())
}
