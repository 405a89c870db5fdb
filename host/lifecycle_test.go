package host_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pyhost/pyhost/host"
)

// childEnv names the scenario a re-executed test binary runs instead of
// the tests: what needs an interpreter of its own (closing it).
const childEnv = "HOST_TEST_CHILD"

func runChild(name string) int {
	switch name {
	case "after-close":
		return childAfterClose()
	case "start-error":
		return childStartError()
	}
	if fn := misuseScenarios[name]; fn != nil {
		return fn()
	}
	fmt.Fprintln(os.Stderr, "unknown scenario", name)
	return 2
}

// childAfterClose closes an interpreter while a Do runs and uses it, and
// what it made, afterwards. It prints one line per check.
func childAfterClose() int {
	in, err := host.Start(host.Options{Isolated: true, NoSite: true})
	if err != nil {
		fmt.Println("start:", err)
		return 1
	}
	var kept *host.Object
	var token *host.Py
	err = in.Do(func(py *host.Py) error {
		token = py
		// A Python thread started from a Do: Close must not wait
		// for the Do's OS thread to end (threading's main thread).
		if err := py.Exec("import threading\nth = threading.Thread(target=lambda: None)\nth.start()\nth.join()\n"); err != nil {
			return err
		}
		kept, err = py.Eval("[1, 2]")
		return err
	})
	if err != nil {
		fmt.Println("do:", err)
		return 1
	}
	started := make(chan struct{})
	running := make(chan error, 1)
	go func() {
		running <- in.Do(func(py *host.Py) error {
			close(started)
			py.AllowThreads(func() { time.Sleep(200 * time.Millisecond) })
			o, err := py.Eval("40 + 2")
			if err != nil {
				return err
			}
			defer o.Close()
			n, err := o.AsInt()
			if n != 42 {
				return fmt.Errorf("got %d, %v", n, err)
			}
			return err
		})
	}()
	<-started
	t0 := time.Now()
	fmt.Println("close:", in.Close())
	fmt.Println("close waited for the running Do:", time.Since(t0) >= 150*time.Millisecond, <-running)
	fmt.Println("do:", in.Do(func(py *host.Py) error { return nil }))
	fmt.Println("docontext:", in.DoContext(context.Background(), func(py *host.Py) error { return nil }))
	fmt.Println("close again:", in.Close())
	_, err = host.Start(host.Options{Isolated: true})
	fmt.Println("start again:", errors.Is(err, host.ErrStarted))
	_, err = kept.Attr("append")
	fmt.Println("attr:", err)
	_, err = token.Eval("1")
	fmt.Println("stale token:", err)
	kept.Close()
	fmt.Println("live:", host.LiveObjects())
	return 0
}

func TestAfterClose(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=after-close")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := strings.Join([]string{
		"close: <nil>",
		"close waited for the running Do: true <nil>",
		"do: " + host.ErrClosed.Error(),
		"docontext: " + host.ErrClosed.Error(),
		"close again: " + host.ErrClosed.Error(),
		"start again: true",
		"attr: " + host.ErrClosed.Error(),
		"stale token: " + host.ErrClosed.Error(),
		"live: 0",
	}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("child printed\n%s\nwant\n%s", out, want)
	}
}

func TestStartTwice(t *testing.T) {
	in, err := host.Start(host.Options{Isolated: true})
	if !errors.Is(err, host.ErrStarted) || in != nil {
		t.Fatalf("second Start = %v, %v; want ErrStarted", in, err)
	}
}

func TestCloseInsideDo(t *testing.T) {
	do(t, func(py *host.Py) error {
		if err := interp.Close(); err == nil || errors.Is(err, host.ErrClosed) {
			t.Errorf("Close inside Do = %v, want an error that it would wait for itself", err)
		}
		return nil
	})
	do(t, func(py *host.Py) error { // still open
		if v := eval(t, py, "1 + 1"); v != int64(2) {
			t.Errorf("got %v", v)
		}
		return nil
	})
}

func TestOptions(t *testing.T) {
	do(t, func(py *host.Py) error {
		execSrc(t, py, "import sys")
		if got := fmt.Sprint(eval(t, py, "sys.argv")); got != "[hosttest arg1]" {
			t.Errorf("sys.argv = %s", got)
		}
		if got := eval(t, py, "sys.flags.isolated"); got != int64(1) {
			t.Errorf("sys.flags.isolated = %v", got)
		}
		if got := eval(t, py, "any(p.endswith('/host/testdata') for p in sys.path)"); got != true {
			t.Errorf("Paths not in sys.path: %v", eval(t, py, "sys.path"))
		}
		return nil
	})
}

// A token or Object used outside its Do is an error, never a crash.
func TestWithoutGIL(t *testing.T) {
	var token *host.Py
	var o *host.Object
	do(t, func(py *host.Py) error {
		token = py
		var err error
		o, err = py.Eval("'kept'")
		return err
	})
	// Every method of a stale token is an error (Py.Config, now gone,
	// used to abort the process).
	for name, call := range map[string]func() error{
		"Eval":     func() error { _, err := token.Eval("1"); return err },
		"Exec":     func() error { return token.Exec("pass") },
		"ExecFile": func() error { return token.ExecFile("/nonexistent.py") },
		"ExecIn":   func() error { return token.ExecIn(o, "pass", "<x>") },
		"Import":   func() error { _, err := token.Import("sys"); return err },
		"FromGo":   func() error { _, err := token.FromGo(1); return err },
		"Attach":   func() error { return host.Attach(func(*host.Py) error { return nil }) },
	} {
		if err := call(); !errors.Is(err, host.ErrNoGIL) {
			t.Errorf("stale token: %s: %v, want ErrNoGIL", name, err)
		}
	}
	if _, err := o.Attr("upper"); !errors.Is(err, host.ErrNoGIL) {
		t.Errorf("Object outside Do: %v, want ErrNoGIL", err)
	}
	if _, err := o.ToGo(); !errors.Is(err, host.ErrNoGIL) {
		t.Errorf("ToGo outside Do: %v, want ErrNoGIL", err)
	}
	if got := o.String(); got != "<no GIL>" {
		t.Errorf("String outside Do = %q", got)
	}
	// Another goroutine inside the Do has no GIL either.
	do(t, func(py *host.Py) error {
		errc := make(chan error)
		go func() { _, err := o.ToGo(); errc <- err }()
		if err := <-errc; !errors.Is(err, host.ErrNoGIL) {
			t.Errorf("Object on another goroutine: %v, want ErrNoGIL", err)
		}
		return nil
	})
	before := host.QueuedReleases()
	o.Close() // without the GIL: queued
	if host.QueuedReleases() != before+1 {
		t.Errorf("Close without the GIL did not queue the release")
	}
	if n := settle(t); n != 0 {
		t.Errorf("LiveObjects = %d after settling", n)
	}
}

func TestNilAndClosedObject(t *testing.T) {
	do(t, func(py *host.Py) error {
		var nilObj *host.Object
		closed, err := py.Eval("object()")
		if err != nil {
			return err
		}
		closed.Close()
		closed.Close() // twice is harmless
		for name, o := range map[string]*host.Object{"nil": nilObj, "closed": closed} {
			if _, err := o.Attr("x"); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s Attr: %v", name, err)
			}
			if _, err := o.Call(); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s Call: %v", name, err)
			}
			if _, err := o.ToGo(); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s ToGo: %v", name, err)
			}
			if _, err := py.FromGo(o); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s FromGo: %v", name, err)
			}
			if err := o.SetAttr("x", 1); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s SetAttr: %v", name, err)
			}
			if o.IsNone() || o.String() != "<nil>" || o.TypeName() != "<nil>" {
				t.Errorf("%s: IsNone %v, String %q, TypeName %q", name, o.IsNone(), o.String(), o.TypeName())
			}
			if err := py.ExecIn(o, "x = 1", "<test>"); !errors.Is(err, host.ErrNilObject) {
				t.Errorf("%s ExecIn: %v", name, err)
			}
			o.Close()
		}
		return nil
	})
}

func TestPanicInDo(t *testing.T) {
	err := interp.Do(func(py *host.Py) error { panic("in do") })
	var pe *host.PanicError
	if !errors.As(err, &pe) || pe.Value != "in do" || !strings.Contains(pe.Stack, "TestPanicInDo") {
		t.Fatalf("Do with a panic = %v", err)
	}
}

// childStartError starts an interpreter that cannot find its standard
// library and prints the error Start returns.
func childStartError() int {
	_, err := host.Start(host.Options{Args: []string{"python3"}})
	var se *host.StartError
	fmt.Println("start error:", errors.As(err, &se), err != nil)
	return 0
}

func TestStartErrorIsReported(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=start-error", "PYTHONHOME=/nonexistent-python-home")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "start error: true true") {
		t.Errorf("child printed %q; want a *host.StartError from Start", out)
	}
}
