package node

import (
	"os"
	"strings"
	"testing"
)

func TestSnapshotSettings(t *testing.T) {
	t.Run("a new home takes snapshots by default", func(t *testing.T) {
		home, _ := newHome(t)
		c, err := LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.App.State.SnapshotInterval != DefaultSnapshotInterval || c.App.State.SnapshotKeepRecent != DefaultSnapshotKeepRecent {
			t.Fatalf("state settings %+v", c.App.State)
		}
	})
	t.Run("an app.toml written before snapshots existed gets the defaults", func(t *testing.T) {
		home, _ := newHome(t)
		if err := os.WriteFile(AppConfigPath(home), []byte("[state]\nkeep_recent = 0\n[gateway]\nenable = false\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.App.State.SnapshotInterval != DefaultSnapshotInterval || c.App.State.SnapshotKeepRecent != DefaultSnapshotKeepRecent {
			t.Fatalf("state settings %+v", c.App.State)
		}
	})
	t.Run("an env variable sets the interval", func(t *testing.T) {
		home, _ := newHome(t)
		t.Setenv("MEDCHAIN_STATE_SNAPSHOT_INTERVAL", "5")
		c, err := LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.App.State.SnapshotInterval != 5 {
			t.Fatalf("snapshot_interval = %d, want 5", c.App.State.SnapshotInterval)
		}
	})
	bad := []struct {
		name, toml, want string
	}{
		{"a negative interval is refused", "[state]\nsnapshot_interval = -1\n", "state.snapshot_interval"},
		{"keeping no snapshot is refused", "[state]\nsnapshot_keep_recent = 0\n", "state.snapshot_keep_recent"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			home, _ := newHome(t)
			if err := os.WriteFile(AppConfigPath(home), []byte(tt.toml+"[gateway]\nenable = false\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(home, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
