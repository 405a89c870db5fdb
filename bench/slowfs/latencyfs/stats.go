package latencyfs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Stats is a snapshot of the requests a mount has served.
type Stats struct {
	Source     string `json:"source"`
	MountPoint string `json:"mount_point"`
	// LatencySeconds is the service time of one metadata request.
	LatencySeconds float64 `json:"latency_seconds"`
	// Requests counts every FUSE request by type (kernel names:
	// LOOKUP, GETATTR, READ...); types never seen are absent.
	Requests map[string]uint64 `json:"requests"`
	// ByCommand counts requests by the caller's command name
	// (/proc/<tid>/comm: "python3.11", "pyhost", "find"...).
	ByCommand map[string]uint64 `json:"by_command,omitempty"`
	// Metadata is the number of requests that waited in the queue.
	Metadata uint64 `json:"metadata"`
	// Data is the number of the other requests (reads, releases...).
	Data      uint64 `json:"data"`
	ReadBytes uint64 `json:"read_bytes"`
	// UptimeSeconds is the time since the mount.
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Stats returns the counts so far.
func (m *Mount) Stats() Stats {
	s := Stats{
		Source:         m.src,
		MountPoint:     m.dir,
		LatencySeconds: m.queue.Latency().Seconds(),
		Requests:       make(map[string]uint64),
		ReadBytes:      m.readBytes.Load(),
		UptimeSeconds:  time.Since(m.started).Seconds(),
		ByCommand:      m.callers.snapshot(),
	}
	for o := op(0); o < numOps; o++ {
		n := m.counts[o].Load()
		if n == 0 {
			continue
		}
		s.Requests[opNames[o]] = n
		if o < firstUndelayed {
			s.Metadata += n
		} else {
			s.Data += n
		}
	}
	return s
}

// Sub returns the requests served between an earlier snapshot and s.
func (s Stats) Sub(earlier Stats) Stats {
	d := s
	d.Requests = make(map[string]uint64)
	for k, v := range s.Requests {
		if v -= earlier.Requests[k]; v > 0 {
			d.Requests[k] = v
		}
	}
	d.ByCommand = make(map[string]uint64)
	for k, v := range s.ByCommand {
		if v -= earlier.ByCommand[k]; v > 0 {
			d.ByCommand[k] = v
		}
	}
	d.Metadata -= earlier.Metadata
	d.Data -= earlier.Data
	d.ReadBytes -= earlier.ReadBytes
	d.UptimeSeconds -= earlier.UptimeSeconds
	return d
}

// WriteFile writes s as indented JSON, atomically (a temporary file
// renamed over path), so that a reader never sees half a file.
func (s Stats) WriteFile(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("latencyfs: encode stats: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".slowfs-stats-*")
	if err != nil {
		return fmt.Errorf("latencyfs: write stats: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("latencyfs: write stats %q: %w", path, werr)
	}
	return nil
}
