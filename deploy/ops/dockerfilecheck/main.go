// dockerfilecheck parses a Dockerfile with BuildKit's own frontend (the parser and
// instruction decoder `docker build` uses) and runs BuildKit's build checks (the rules
// behind `docker build --check`). No daemon or engine is needed. Exit 1 on a parse
// error or any check warning.
//
//	dockerfilecheck deploy/compose/Dockerfile
package main

import (
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfilecheck DOCKERFILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
		os.Exit(2)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		fmt.Println("parse error:", err)
		os.Exit(1)
	}
	warnings := 0
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		warnings++
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		fmt.Printf("check %s (line %d): %s\n", rule, line, msg)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		fmt.Println("instruction error:", err)
		os.Exit(1)
	}
	for _, w := range res.Warnings {
		warnings++
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		fmt.Printf("parser warning (line %d): %s\n", line, w.Short)
	}
	fmt.Printf("%d stages, %d warnings\n", len(stages), warnings)
	if warnings > 0 {
		os.Exit(1)
	}
}
