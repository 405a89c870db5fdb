// Package share is where pyhost's runs and ranks share what they read of
// the file system: the persistent cache of one environment (directory
// listings and the record of the modules its runs loaded), and the job's
// collective that gives every rank what one rank read.
//
// It owns the files in the cache directory and the rules that make them
// safe to trust (see Cache); it never loads code itself (importer does, and
// owns the validity rule of the bytecode it serves), never speaks MPI's C
// API (package mpiglue does) and never needs Python.
package share
