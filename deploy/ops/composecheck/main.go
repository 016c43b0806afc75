// composecheck loads a Compose file with compose-go, the loader behind `docker compose
// config`: it validates the file against the Compose specification's JSON schema,
// interpolates variables, resolves extends/depends_on and normalises the project, then
// prints the result as YAML. No container engine is involved.
//
//	composecheck -f deploy/compose/compose.yaml [--env-file FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	file := flag.String("f", "compose.yaml", "compose file")
	envFile := flag.String("env-file", "", "optional .env file")
	flag.Parse()

	opts := []cli.ProjectOptionsFn{cli.WithOsEnv, cli.WithConsistency(true), cli.WithResolvedPaths(true)}
	if *envFile != "" {
		opts = append(opts, cli.WithEnvFiles(*envFile), cli.WithDotEnv)
	}
	options, err := cli.NewProjectOptions([]string{*file}, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(2)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck: invalid:", err)
		os.Exit(1)
	}
	out, err := project.MarshalYAML()
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(2)
	}
	os.Stdout.Write(out)
}
