package mpiglue

// Hooks for the external tests.

// LauncherVars is the list LauncherDetected checks.
var LauncherVars = launcherVars
