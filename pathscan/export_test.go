package pathscan

import "syscall"

// SetListingHook sets the hook ListTree and VerifyTree call as they open
// each directory below the root (done when its listing is had); nil
// removes it.
func SetListingHook(h func(dir string) (done func())) { listingHook = h }

// CloseWatchFd closes the Index's inotify descriptor behind its back, as
// a program's os.closerange would; false if it had none.
func CloseWatchFd(ix *Index) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.watch == nil || ix.watch.fd < 0 {
		return false
	}
	return syscall.Close(ix.watch.fd) == nil
}
