package store

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// CheckEnv checks the environment variables a spider, a task or a schedule
// gives a spider's process. It is the one rule the master applies when
// they are saved (a 400 with its message) and the agent applies before
// it runs a task (which ends in error with its message). A key:
//
//   - is a portable name: a letter or _, then letters, digits and _;
//   - does not start with CRAWLHUB_ (in any case): those are the agent's,
//     set for every task (CRAWLHUB_TASK_ID, CRAWLHUB_ITEMS_URL, …), and a
//     spider must not be able to replace them;
//   - is not a variable of the dynamic loader (LD_*, DYLD_*), which would
//     change how every program the task starts is loaded, the shell that
//     runs its command included. A spider that needs one sets it in its
//     command.
//
// A value holds no NUL byte, which no process environment can carry.
func CheckEnv(env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same message for the same env
	var errs []error
	for _, k := range keys {
		if err := checkEnvKey(k); err != nil {
			errs = append(errs, err)
		} else if strings.IndexByte(env[k], 0) >= 0 {
			errs = append(errs, fmt.Errorf("env %s: a value cannot hold a NUL byte", k))
		}
	}
	return errors.Join(errs...)
}

// maxEnvKey bounds a key's length.
const maxEnvKey = 256

func checkEnvKey(k string) error {
	if k == "" || len(k) > maxEnvKey {
		return fmt.Errorf("env key %q: a key has 1 to %d characters", k, maxEnvKey)
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		letter := c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		if !letter && !(i > 0 && c >= '0' && c <= '9') {
			return fmt.Errorf("env key %q: use letters, digits and _, not starting with a digit", k)
		}
	}
	up := strings.ToUpper(k)
	switch {
	case strings.HasPrefix(up, "CRAWLHUB_"):
		return fmt.Errorf("env key %q: keys starting with CRAWLHUB_ are set by crawlhub for every task and cannot be given", k)
	case strings.HasPrefix(up, "LD_") || strings.HasPrefix(up, "DYLD_"):
		return fmt.Errorf("env key %q: dynamic loader variables (LD_*, DYLD_*) are not accepted; set it in the spider's command if it needs one", k)
	}
	return nil
}
