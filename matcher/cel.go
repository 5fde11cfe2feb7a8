package matcher

import (
	"errors"
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/parser"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// celFuncName is the overload every form of the trigger macro expands to:
// trigger_request_map(req, {...}).
const celFuncName = "trigger_request_map"

// celUsage is appended to macro errors so users see the accepted forms.
const celUsage = "use trigger(), trigger('pipeline', ...) or trigger({'kinds': [...], 'projects': [...], 'path_prefix': '...'})"

// CELLibrary exposes the matcher to CEL expressions as trigger(...). One
// variadic macro normalizes the three forms (no argument, kind names, one
// map literal) into a single map argument, so one overload and one factory
// serve them all, and a constant argument lets Caddy build the matcher once
// when the expression is provisioned rather than on every request.
func (MatchTrigger) CELLibrary(caddy.Context) (cel.Library, error) {
	macro := parser.NewGlobalVarArgMacro("trigger", expandTriggerMacro)
	envOptions := []cel.EnvOption{
		cel.Macros(macro),
		cel.Function(celFuncName,
			cel.Overload(celFuncName,
				[]*cel.Type{cel.ObjectType("http.Request"), caddyhttp.CELTypeJSON},
				cel.BoolType),
			cel.SingletonBinaryBinding(caddyhttp.CELMatcherRuntimeFunction(celFuncName, celMatcherFactory))),
	}
	programOptions := []cel.ProgramOption{
		cel.CustomDecorator(caddyhttp.CELMatcherDecorator(celFuncName, celMatcherFactory)),
	}
	return caddyhttp.NewMatcherCELLibrary(envOptions, programOptions), nil
}

// celMatcherFactory is typed as Caddy's CELMatcherWithErrorFactory, which
// its helpers recognize by type assertion.
var celMatcherFactory caddyhttp.CELMatcherWithErrorFactory = newCELMatcher

// expandTriggerMacro rewrites trigger(...) into trigger_request_map(req, map).
func expandTriggerMacro(eh cel.MacroExprFactory, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
	call := func(arg ast.Expr) ast.Expr {
		return eh.NewCall(celFuncName, eh.NewIdent(caddyhttp.CELRequestVarName), arg)
	}
	if len(args) == 0 {
		return call(eh.NewMap()), nil
	}
	if len(args) == 1 && args[0].Kind() == ast.MapKind {
		for _, entry := range args[0].AsMap().Entries() {
			e := entry.AsMapEntry()
			if !isStringLiteral(e.Key()) {
				return nil, eh.NewError(entry.ID(), "trigger matcher map keys must be string literals; "+celUsage)
			}
			if !isStringLiteral(e.Value()) && !isStringListLiteral(e.Value()) {
				return nil, eh.NewError(e.Value().ID(), "trigger matcher map values must be string or list-of-string literals; "+celUsage)
			}
		}
		return call(args[0]), nil
	}
	for _, arg := range args {
		if !isStringLiteral(arg) {
			return nil, eh.NewError(arg.ID(), "trigger matcher arguments must be string literals; "+celUsage)
		}
	}
	kinds := eh.NewMapEntry(eh.NewLiteral(types.String("kinds")), eh.NewList(args...), false)
	return call(eh.NewMap(kinds)), nil
}

func isStringLiteral(e ast.Expr) bool {
	return e.Kind() == ast.LiteralKind && e.AsLiteral().Type() == types.StringType
}

func isStringListLiteral(e ast.Expr) bool {
	return e.Kind() == ast.ListKind && !slices.ContainsFunc(e.AsList().Elements(), func(el ast.Expr) bool {
		return !isStringLiteral(el)
	})
}

// newCELMatcher builds and validates a matcher from the macro's map.
func newCELMatcher(data ref.Val) (caddyhttp.RequestMatcherWithError, error) {
	fields, err := caddyhttp.CELValueToMapStrList(data)
	if err != nil {
		return nil, fmt.Errorf("trigger matcher: %w", err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the first bad key reported is the same every time

	m := new(MatchTrigger)
	for _, k := range keys {
		v := fields[k]
		switch k {
		case "kinds":
			m.Kinds = v
		case "projects":
			m.Projects = v
		case "path_prefix":
			if len(v) != 1 || v[0] == "" {
				return nil, errors.New("trigger matcher: path_prefix takes exactly one path")
			}
			m.PathPrefix = v[0]
		default:
			return nil, fmt.Errorf("trigger matcher: unknown key %q (want kinds, projects or path_prefix)", k)
		}
	}
	m.setDefaults()
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("trigger matcher: %w", err)
	}
	return m, nil
}
