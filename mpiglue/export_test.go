package mpiglue

// Hooks for the external tests.

// LauncherVars is the list LauncherDetected checks.
var LauncherVars = launcherVars

// BuiltWithMPI is what Available must report in this build.
const BuiltWithMPI = builtWithMPI
