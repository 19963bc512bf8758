package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// layeredFlags applies configuration in the order defaults < YAML file < environment
// (HERALD_<FLAG NAME> with '_' for '-') < command-line flags. The flags are bound to the
// fields of the configuration struct that the YAML file decodes into, so each layer simply
// overwrites what the one below set.
//
// load reads --config (or HERALD_CONFIG) from args before anything else, decodes the file
// into dst, then applies the environment and finally parses args.
func layeredFlags(fs *flag.FlagSet, args []string, dst any) error {
	path := configPath(args)
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) { // an empty file is fine
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if envErr != nil || f.Name == "config" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if l, ok := f.Value.(*listFlag); ok {
				l.fresh = false
			}
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	fs.VisitAll(func(f *flag.Flag) {
		if l, ok := f.Value.(*listFlag); ok {
			l.fresh = false
		}
	})
	return fs.Parse(args)
}

// envName is the environment variable of a flag: "history-size" → "HERALD_HISTORY_SIZE".
func envName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// configPath finds --config in args, else HERALD_CONFIG.
func configPath(args []string) string {
	for i, a := range args {
		a = strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, "config="); ok {
			return v
		}
		if a == "config" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return os.Getenv("HERALD_CONFIG")
}

// listFlag is a repeatable string flag bound to a slice. The first value set from a new
// layer replaces the list from the layer below; later ones append. Commas separate values.
type listFlag struct {
	p     *[]string
	fresh bool
}

func (l *listFlag) String() string {
	if l == nil || l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.fresh {
		*l.p = nil
		l.fresh = true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.p = append(*l.p, s)
		}
	}
	return nil
}
