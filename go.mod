module pyhost

go 1.26.0

require (
	github.com/google/btree v1.1.3
	github.com/hanwen/go-fuse/v2 v2.12.1
	golang.org/x/sys v0.28.0
)
