package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/agnivade/levenshtein"
	"github.com/joho/godotenv"
)

// A setting is one configuration key. Its name is at once the environment
// variable and the key of the -config file; its flag is the command-line
// spelling. Every source gives text, and parse turns the winning text into
// the value, so a bad value is reported the same way wherever it came from.
type setting struct {
	key   string // MAX_DEPTH
	flag  string // max-depth
	typ   string // what -h shows: int, bool, duration, string, list, ...
	def   string // the default, as text
	usage string
	// demoDef, when hasDemoDef, replaces def under -demo.
	demoDef    string
	hasDemoDef bool
	// secret settings are never printed, and are also read from a file
	// named by KEY_FILE (or -flag-file), as container secrets are mounted.
	secret bool
	// parse stores the value of text, or says why it cannot; it leaves
	// the destination alone on error.
	parse func(text string) error
}

// withDemoDefault makes def the setting's default under -demo.
func (s *setting) withDemoDefault(def string) *setting {
	s.demoDef, s.hasDemoDef = def, true
	return s
}

// settings is the gateway's table of settings, in the order -h and
// -print-config list them.
type settings struct {
	all []*setting
}

func (t *settings) add(s *setting) *setting {
	t.all = append(t.all, s)
	return s
}

func (t *settings) str(dst *string, key, flagName, def, usage string) *setting {
	return t.add(&setting{key: key, flag: flagName, typ: "string", def: def, usage: usage,
		parse: func(text string) error { *dst = text; return nil }})
}

func (t *settings) secretStr(dst *string, key, flagName, usage string) *setting {
	s := t.str(dst, key, flagName, "", usage)
	s.secret = true
	return s
}

// integer declares a whole-number setting whose values fit ok; want says
// what is accepted in the error, e.g. "a positive whole number".
func (t *settings) integer(set func(int64), key, flagName string, def int64, ok func(int64) bool, want, usage string) *setting {
	return t.add(&setting{key: key, flag: flagName, typ: "int", def: strconv.FormatInt(def, 10), usage: usage,
		parse: func(text string) error {
			v, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
			if err != nil || !ok(v) {
				return fmt.Errorf("%s must be %s, got %q", key, want, text)
			}
			set(v)
			return nil
		}})
}

// duration declares a duration setting of at least minimum.
func (t *settings) duration(dst *time.Duration, key, flagName string, def, minimum time.Duration, want, usage string) *setting {
	return t.add(&setting{key: key, flag: flagName, typ: "duration", def: def.String(), usage: usage,
		parse: func(text string) error {
			v, err := time.ParseDuration(strings.TrimSpace(text))
			if err != nil || v < minimum {
				return fmt.Errorf("%s must be %s, got %q", key, want, text)
			}
			*dst = v
			return nil
		}})
}

func (t *settings) boolean(dst *bool, key, flagName string, def bool, usage string) *setting {
	return t.add(&setting{key: key, flag: flagName, typ: "bool", def: strconv.FormatBool(def), usage: usage,
		parse: func(text string) error {
			v, err := parseBool(key, text)
			if err != nil {
				return err
			}
			*dst = v
			return nil
		}})
}

// parseBool reads true or false (also 1/0, yes/no).
func parseBool(key, text string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(text)) {
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, fmt.Errorf("%s must be true or false, got %q", key, text)
}

// list declares a comma-separated setting; check, when not nil, refuses
// an entry.
func (t *settings) list(dst *[]string, key, flagName, def, usage string, check func(string) error) *setting {
	return t.add(&setting{key: key, flag: flagName, typ: "list", def: def, usage: usage,
		parse: func(text string) error {
			var entries []string
			var errs []error
			for _, e := range strings.Split(text, ",") {
				if e = strings.TrimSpace(e); e == "" {
					continue
				}
				if check != nil {
					if err := check(e); err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", key, err))
						continue
					}
				}
				entries = append(entries, e)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			*dst = entries
			return nil
		}})
}

// A provenance names where a value came from: "default", "flag -max-depth",
// "env MAX_DEPTH", "file gateway.env", "env SERPI_TOKEN_FILE (/run/x)".
type provenance = string

// resolved is a setting with its winning text and where it came from.
type resolved struct {
	*setting
	text string
	from provenance
}

// loaded is what the sources said, before semantic validation.
type loaded struct {
	resolved   []resolved
	configFile string // "" without one
	problems   []error
	help       bool
	flags      *flag.FlagSet
}

// flagText is a setting's flag: it only records the text, which is parsed
// with every other source's, so that every bad value is reported at once.
type flagText struct {
	text   string
	isBool bool
}

func (f *flagText) String() string { return "" } // defaults are never shown by flag
func (f *flagText) Set(v string) error {
	f.text = v
	return nil
}
func (f *flagText) IsBoolFlag() bool { return f.isBool }

// load reads the settings from args, the environment and the config file
// (named by -config or CONFIG_FILE), with precedence flag > env > file >
// default, and parses each winner. fs holds the flags that are not
// settings (actions such as -demo); it is parsed here. Every problem is
// collected; none stops the others from being found.
func (t *settings) load(fs *flag.FlagSet, args []string, getenv func(string) string, demo *bool) *loaded {
	l := &loaded{flags: fs}
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	configFlag := fs.String("config", "", "a KEY=VALUE file of settings, under the environment (or env CONFIG_FILE)")
	texts := map[string]*flagText{}
	for _, s := range t.all {
		texts[s.flag] = &flagText{isBool: s.typ == "bool"}
		fs.Var(texts[s.flag], s.flag, s.usage)
		if s.secret {
			texts[s.flag+"-file"] = &flagText{}
			fs.Var(texts[s.flag+"-file"], s.flag+"-file", "file holding "+s.key)
		}
	}
	switch err := fs.Parse(args); {
	case errors.Is(err, flag.ErrHelp):
		l.help = true
	case err != nil:
		l.problems = append(l.problems, fmt.Errorf("%w (gateway -h lists the flags)", err))
	case fs.NArg() > 0:
		hint := "flags start with -"
		if i := len(args) - fs.NArg() - 1; i >= 0 {
			if t, ok := texts[strings.TrimLeft(args[i], "-")]; ok && t.isBool {
				hint = fmt.Sprintf("a bool flag takes its value after =, as in %s=%s", args[i], fs.Arg(0))
			}
		}
		l.problems = append(l.problems, fmt.Errorf("unexpected argument %q (%s)", fs.Arg(0), hint))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	l.configFile = getenv("CONFIG_FILE")
	if given["config"] {
		l.configFile = *configFlag
	}
	file := map[string]string{}
	if l.configFile != "" {
		var err error
		file, err = t.readConfigFile(l.configFile)
		if err != nil {
			l.problems = append(l.problems, err)
		}
	}

	// The sources in precedence order: each names its text for a setting
	// (and for a secret's file), and says how to name where it came from.
	sources := []source{
		{direct: func(s *setting) string { return s.flag }, ofFile: func(s *setting) string { return s.flag + "-file" },
			lookup: func(name string) (string, bool) { return texts[name].text, given[name] },
			label:  func(name string) string { return "flag -" + name }},
		{direct: func(s *setting) string { return s.key }, ofFile: func(s *setting) string { return s.key + "_FILE" },
			lookup: func(name string) (string, bool) { v := getenv(name); return v, v != "" },
			label:  func(name string) string { return "env " + name }},
		{direct: func(s *setting) string { return s.key }, ofFile: func(s *setting) string { return s.key + "_FILE" },
			lookup: func(name string) (string, bool) { v, ok := file[name]; return v, ok },
			label: func(name string) string {
				if strings.HasSuffix(name, "_FILE") {
					return "file " + l.configFile + ": " + name
				}
				return "file " + l.configFile
			}},
	}
	for _, s := range t.all {
		r := l.resolve(s, sources, *demo)
		if err := s.parse(r.text); err != nil {
			l.problems = append(l.problems, fmt.Errorf("%w (from %s)", err, r.from))
		}
		l.resolved = append(l.resolved, r)
	}
	return l
}

// A source is the flags, the environment or the config file.
type source struct {
	direct, ofFile func(*setting) string // the names of a setting, of a secret's file
	lookup         func(name string) (text string, ok bool)
	label          func(name string) provenance
}

// resolve finds the text of s in the first source that has it, else its
// default, reading a secret's file when a source names one.
func (l *loaded) resolve(s *setting, sources []source, demo bool) resolved {
	for _, src := range sources {
		name := src.direct(s)
		text, ok := src.lookup(name)
		if !s.secret {
			if ok {
				return resolved{setting: s, text: text, from: src.label(name)}
			}
			continue
		}
		fileName := src.ofFile(s)
		path, fromFile := src.lookup(fileName)
		switch {
		case ok && fromFile:
			l.problems = append(l.problems, fmt.Errorf("%s: give %s or %s, not both", s.key, src.label(name), src.label(fileName)))
			return resolved{setting: s, text: text, from: src.label(name)}
		case ok:
			return resolved{setting: s, text: text, from: src.label(name)}
		case fromFile:
			secret, err := readSecretFile(path)
			if err != nil {
				l.problems = append(l.problems, fmt.Errorf("%s: %w", src.label(fileName), err))
			}
			return resolved{setting: s, text: secret, from: fmt.Sprintf("%s (%s)", src.label(fileName), path)}
		}
	}
	if s.hasDemoDef && demo {
		return resolved{setting: s, text: s.demoDef, from: "default with -demo"}
	}
	return resolved{setting: s, text: s.def, from: "default"}
}

// readSecretFile reads a mounted secret, without the newline editors and
// `echo` leave at its end.
func readSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// expansion is what godotenv would replace in an unquoted or
// double-quoted value: $NAME, ${NAME}.
var expansion = regexp.MustCompile(`\$\{?[A-Za-z_]`)

// readConfigFile parses the dotenv file at path (KEY=VALUE lines, export,
// single and double quotes, # comments, also after an unquoted value) and
// refuses keys that are no setting. Errors name lines, never their text,
// which may hold secrets.
func (t *settings) readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	values, err := godotenv.Unmarshal(text)
	if err != nil {
		return nil, fmt.Errorf("config file %s:%d: want KEY=VALUE (a quoted value must end with its quote)", path, firstBadLine(text))
	}
	var errs []error
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "export ")
		key, value, ok := strings.Cut(line, "=")
		value = strings.TrimSpace(value)
		if ok && !strings.HasPrefix(value, "'") && expansion.MatchString(value) {
			errs = append(errs, fmt.Errorf("config file %s:%d: %s: a $ in an unquoted or double-quoted value would be replaced; put the value in single quotes", path, n+1, strings.TrimSpace(key)))
		}
	}
	known := t.keys()
	unknown := make([]string, 0)
	for key := range values {
		if !slices.Contains(known, key) {
			unknown = append(unknown, key)
		}
	}
	sort.Strings(unknown)
	for _, key := range unknown {
		errs = append(errs, fmt.Errorf("config file %s: unknown key %s%s", path, key, suggest(key, known)))
	}
	return values, errors.Join(errs...)
}

// firstBadLine is the first line at which text stops parsing.
func firstBadLine(text string) int {
	lines := strings.SplitAfter(text, "\n")
	for n := 1; n <= len(lines); n++ {
		if _, err := godotenv.Unmarshal(strings.Join(lines[:n], "")); err != nil {
			return n
		}
	}
	return len(lines)
}

// keys are the keys the config file may hold: every setting's, and
// KEY_FILE for secrets.
func (t *settings) keys() []string {
	var keys []string
	for _, s := range t.all {
		keys = append(keys, s.key)
		if s.secret {
			keys = append(keys, s.key+"_FILE")
		}
	}
	return keys
}

// suggest names the known key closest to a misspelt one.
func suggest(key string, known []string) string {
	best, bestDistance := "", 3
	for _, k := range known {
		if d := levenshtein.ComputeDistance(key, k); d < bestDistance {
			best, bestDistance = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// masked is a value as -print-config shows it: secrets and credentials
// in URLs hidden, empty or spaced text quoted.
func masked(s resolved) string {
	if s.text == "" {
		return `""`
	}
	if s.secret {
		return "********"
	}
	text := withoutURLCredentials(s.text)
	if strings.ContainsAny(text, " \t\n\"") {
		return strconv.Quote(text)
	}
	return text
}

// withoutURLCredentials masks the user and password of a URL-like text
// (redis://:password@cache:6379/0, redis-sentinel://:pw@h1,h2/master),
// which url.Parse does not always accept.
func withoutURLCredentials(text string) string {
	scheme, rest, ok := strings.Cut(text, "://")
	if !ok {
		return text
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return text
	}
	return scheme + "://********" + rest[at:]
}

// printConfig writes every setting, its value (secrets masked) and where
// it came from.
func (l *loaded) printConfig(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "# effective configuration: flag > env > file > default; secrets masked\n")
	file := l.configFile
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(tw, "# config file: %s\n", file)
	fmt.Fprintf(tw, "KEY\tFROM\tVALUE\n")
	for _, r := range l.resolved {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.key, r.from, masked(r))
	}
	_ = tw.Flush()
}

// printHelp writes the flags that are not settings, then every setting
// with its type, environment variable, default and, when something sets
// it, where that is; never a value from the environment or a file.
func (l *loaded) printHelp(w io.Writer, actions []string) {
	fmt.Fprintf(w, "Usage: gateway [flags]\n\n")
	fmt.Fprintf(w, "Every setting is a flag, an environment variable and a key of the -config file;\n")
	fmt.Fprintf(w, "a flag wins over the environment, which wins over the file, which wins over the default.\n")
	fmt.Fprintf(w, "Secrets are also read from a file named by KEY_FILE (or -flag-file). gateway -print-config\n")
	fmt.Fprintf(w, "shows the effective configuration, secrets masked.\n\n")
	for _, name := range actions {
		f := l.flags.Lookup(name)
		typ, usage := flag.UnquoteUsage(f)
		if typ != "" {
			typ = " " + typ
		}
		fmt.Fprintf(w, "  -%s%s\n    \t%s\n", name, typ, usage)
	}
	fmt.Fprintln(w)
	for _, r := range l.resolved {
		typ := " " + r.typ
		if r.typ == "bool" {
			typ = "[=bool]"
		}
		fmt.Fprintf(w, "  -%s%s\n    \t%s\n", r.flag, typ, r.usage)
		var about []string
		about = append(about, "env "+r.key)
		if r.secret {
			about = append(about, "secret: env "+r.key+"_FILE or -"+r.flag+"-file names a file holding it")
		}
		switch {
		case r.hasDemoDef && r.secret:
			about = append(about, "demo credential with -demo")
		case r.def != "" && !r.secret:
			d := "default " + r.def
			if r.hasDemoDef && r.demoDef != r.def {
				d += ", " + r.demoDef + " with -demo"
			}
			about = append(about, d)
		}
		if !strings.HasPrefix(r.from, "default") {
			about = append(about, "now set by "+r.from)
		}
		fmt.Fprintf(w, "    \t(%s)\n", strings.Join(about, "; "))
	}
}
