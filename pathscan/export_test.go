package pathscan

// SetListingHook sets the hook ListTree and VerifyTree call as they open
// each directory below the root (done when its listing is had); nil
// removes it.
func SetListingHook(h func(dir string) (done func())) { listingHook = h }
