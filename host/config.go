package host

/*
#include "shim.h"

// The running configuration's paths, as str: available during Setup, before
// sys.path and sys.prefix exist. Returns a new dict, or NULL with an
// exception set.
static PyObject *pyhost_config_paths(void) {
	const PyConfig *c = _PyInterpreterState_GetConfig(PyInterpreterState_Get());
	PyObject *d = PyDict_New();
	if (d == NULL) {
		return NULL;
	}
	PyObject *l = PyList_New(0);
	if (l == NULL || PyDict_SetItemString(d, "module_search_paths", l) < 0) {
		Py_XDECREF(l);
		Py_DECREF(d);
		return NULL;
	}
	Py_DECREF(l); // the dict holds it
	for (Py_ssize_t i = 0; i < c->module_search_paths.length; i++) {
		PyObject *s = PyUnicode_FromWideChar(c->module_search_paths.items[i], -1);
		if (s == NULL || PyList_Append(l, s) < 0) {
			Py_XDECREF(s);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(s);
	}
	struct { const char *name; const wchar_t *value; } strs[] = {
		{"prefix", c->prefix},
		{"exec_prefix", c->exec_prefix},
		{"base_prefix", c->base_prefix},
		{"base_exec_prefix", c->base_exec_prefix},
		{"executable", c->executable},
		{"run_filename", c->run_filename},
		{"run_module", c->run_module},
		{"run_command", c->run_command},
	};
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		if (strs[i].value == NULL) {
			continue;
		}
		PyObject *s = PyUnicode_FromWideChar(strs[i].value, -1);
		if (s == NULL || PyDict_SetItemString(d, strs[i].name, s) < 0) {
			Py_XDECREF(s);
			Py_DECREF(d);
			return NULL;
		}
		Py_DECREF(s);
	}
	if (PyDict_SetItemString(d, "user_site_directory", c->user_site_directory ? Py_True : Py_False) < 0 ||
		PyDict_SetItemString(d, "site_import", c->site_import ? Py_True : Py_False) < 0 ||
		PyDict_SetItemString(d, "interactive", (c->interactive || c->inspect) ? Py_True : Py_False) < 0) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}
*/
import "C"

// Config is what the running configuration says of paths, readable during
// Setup (before sys.path and sys.prefix exist).
type Config struct {
	ModuleSearchPaths                              []string
	Prefix, ExecPrefix, BasePrefix, BaseExecPrefix string
	Executable                                     string
	RunFilename, RunModule, RunCommand             string
	UserSiteDirectory, SiteImport, Interactive     bool
}

// Config reads the running interpreter's configuration.
func (py *Py) Config() (Config, error) {
	d := own(C.pyhost_config_paths())
	if d == nil {
		return Config{}, fetchError()
	}
	defer d.Close()
	v, err := d.ToGo()
	if err != nil {
		return Config{}, err
	}
	m := v.(map[string]any)
	str := func(k string) string { s, _ := m[k].(string); return s }
	b := func(k string) bool { x, _ := m[k].(bool); return x }
	var c Config
	for _, p := range m["module_search_paths"].([]any) {
		c.ModuleSearchPaths = append(c.ModuleSearchPaths, p.(string))
	}
	c.Prefix, c.ExecPrefix = str("prefix"), str("exec_prefix")
	c.BasePrefix, c.BaseExecPrefix = str("base_prefix"), str("base_exec_prefix")
	c.Executable = str("executable")
	c.RunFilename, c.RunModule, c.RunCommand = str("run_filename"), str("run_module"), str("run_command")
	c.UserSiteDirectory, c.SiteImport, c.Interactive = b("user_site_directory"), b("site_import"), b("interactive")
	return c, nil
}
