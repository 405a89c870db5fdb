// Package share is where pyhost's runs and ranks share what they read of
// the file system: the persistent cache of one environment (directory
// listings, copies of the .pyc files its runs loaded, and the record of
// the modules they loaded), and the job's collective that gives every rank
// what one rank read.
//
// It owns the files in the cache directory and the rules that make them
// safe to trust (see Cache), and when a copy in the pack is the file it was
// copied from (see Pack); it never loads code itself (importer does: the
// loader still checks each .pyc against its source, and importer owns the
// bundle's validity rule), never speaks MPI's C API (package mpiglue does)
// and never needs Python.
package share
