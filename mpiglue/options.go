package mpiglue

// Options configure [Init].
type Options struct {
	// Library is the MPI library to dlopen (a soname or a path); "" tries
	// the launcher family's usual names. pyhost passes $PYHOST_LIBMPI,
	// except under python's -E or -I, which ignore PYHOST_* variables.
	Library string

	// ShareKey separates ranks that must not share: peers whose keys
	// differ never meet in a collective. pyhost passes its sharing
	// settings (-X pyhost.*), so ranks started with different ones do not
	// wait for each other.
	ShareKey string

	// Launch is what [Detect] said of this process; the zero value makes
	// Init call Detect itself.
	Launch Launch
}
