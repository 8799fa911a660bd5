package apperr

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Messages never repeat request content: a literal, a variable value or a
// token of the document may be a password, a document number or anything
// else a client sent by mistake, and error messages travel into browser
// consoles, proxies' logs and bug reports. gqlparser's and gqlgen's messages
// quote what they refused ("String cannot represent a non string value:
// 123", `Value "X" does not exist in "Scope" enum.`, `Unexpected Name
// "secret"`), so scrub rewrites them to say what is wrong without the bytes.
// Schema names (types, fields, arguments) stay: they are what a client
// needs to fix its document, and a name that is not in the schema is
// refused by its own rule before any value is read.

// literalRules rewrite validation and variable messages that end in, or
// quote, the offending value.
var literalRules = []struct {
	re   *regexp.Regexp
	repl string
}{
	// ValuesOfCorrectType.
	{regexp.MustCompile(`^Expected value of type "([^"]*)", found .*$`), `Expected value of type "$1"; the value given is not one.`},
	{regexp.MustCompile(`^(\w+) cannot represent (?:a )?(.*?) value: .*$`), `$1 cannot represent the $2 value given.`},
	{regexp.MustCompile(`^Enum "([^"]*)" cannot represent non-enum value: .*$`), `Enum "$1" cannot represent the non-enum value given.`},
	{regexp.MustCompile(`^Value ".*" does not exist in "([^"]*)" enum\.$`), `The value given does not exist in "$1" enum.`},
	// Variable coercion (validator.VariableValues).
	{regexp.MustCompile(`^.* is not a valid (\w+)$`), `the value given is not a valid $1`},
	{regexp.MustCompile(`^cannot use .* as (\w+)(?::.*)?$`), `cannot use the value given as $1`},
	{regexp.MustCompile(`(?s)^operation .* not found$`), `the operation named by operationName is not in the document`},
	// Scalars' own messages: `"x" is not a date`, `..., got 9e999`.
	{regexp.MustCompile(`^"(?:[^"\\]|\\.)*" is not `), `the value given is not `},
}

// gotValue is the ", got <value>" tail of a scalar's message; small counts
// ("got 500") and Go type names ("got string") say nothing a client sent.
var (
	gotValue    = regexp.MustCompile(`, got (.*)$`)
	harmlessGot = regexp.MustCompile(`^(?:-?\d{1,6}|[a-z][a-z0-9.]*(?:\{\})?|\[\][a-z0-9.]*(?: \{\})?|map\[[a-z]+\][a-z0-9.]*(?: \{\})?)$`)
	// quoted is a quoted token in a parse error: `Unexpected Name "x"`,
	// `Cannot parse the unexpected character "x".`.
	quoted = regexp.MustCompile(`\s*:?\s*"(?:[^"\\]|\\.)*"`)
)

// scrub removes request content from a message presented with code.
func scrub(code Code, msg string) string {
	switch code {
	case ParseFailed:
		return quoted.ReplaceAllString(msg, "")
	case ValidationFailed, BadUserInput:
		for _, r := range literalRules {
			if r.re.MatchString(msg) {
				return r.re.ReplaceAllString(msg, r.repl)
			}
		}
		if m := gotValue.FindStringSubmatch(msg); m != nil && !harmlessGot.MatchString(m[1]) {
			return strings.TrimSuffix(msg, m[0])
		}
	}
	return msg
}

// isVariableError reports whether err is gqlparser's refusal of a variable
// value (its path starts at "variable"): the caller's input, not its
// document, so BAD_USER_INPUT rather than GRAPHQL_VALIDATION_FAILED.
func isVariableError(err *gqlerror.Error) bool {
	if len(err.Path) == 0 {
		return false
	}
	name, ok := err.Path[0].(ast.PathName)
	return ok && name == "variable"
}

// variableField is extensions.field of a refused variable value: the
// variable and the path inside it, "$in.items[2].rate", from gqlparser's
// error path ["variable", "in", "items", 2, "rate"].
func variableField(path ast.Path) string {
	var b strings.Builder
	b.WriteByte('$')
	for i, el := range path[1:] {
		switch el := el.(type) {
		case ast.PathIndex:
			b.WriteString("[" + strconv.Itoa(int(el)) + "]")
		case ast.PathName:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(el))
		}
	}
	return b.String()
}
