// Command argo is Argo Workflows' own `argo lint` (and `argo version`), built from the argo module.
//
// Argo's cmd/argo cannot be built from the module proxy: its commands package imports `argo
// server`, which embeds the UI's built assets (ui/embed.go: `//go:embed dist/app`), and those are
// not in the module zip. So this wires the same lint code argo's cmd/argo/commands/lint.go does
// (client.NewAPIClient in offline mode, then lint.RunLint), with the same flags and defaults.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/argoproj/argo-workflows/v4/cmd/argo/commands/client"
	"github.com/argoproj/argo-workflows/v4/cmd/argo/commands/common"
	"github.com/argoproj/argo-workflows/v4/cmd/argo/lint"
	wf "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow"
	cmdutil "github.com/argoproj/argo-workflows/v4/util/cmd"
)

var allKinds = []string{wf.WorkflowPlural, wf.WorkflowTemplatePlural, wf.CronWorkflowPlural, wf.ClusterWorkflowTemplatePlural}

func newLintCommand() *cobra.Command {
	var (
		strict, offline bool
		kinds           []string
		output          = common.EnumFlagValue{AllowedValues: []string{"pretty", "simple"}, Value: "pretty"}
	)
	command := &cobra.Command{
		Use:   "lint FILE...",
		Short: "validate files or directories of manifests",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client.Offline, client.OfflineFiles = offline, args
			ctx, apiClient, err := client.NewAPIClient(cmd.Context())
			if err != nil {
				return err
			}
			if len(kinds) == 0 || strings.Contains(strings.Join(kinds, ","), "all") {
				kinds = allKinds
			}
			opts := lint.LintOptions{Files: args, Strict: strict, DefaultNamespace: client.Namespace(ctx), Printer: os.Stdout}
			return lint.RunLint(ctx, apiClient, kinds, output.String(), offline, opts)
		},
	}
	command.Flags().StringSliceVar(&kinds, "kinds", []string{"all"}, "Which kinds will be linted. Can be: "+strings.Join(allKinds, "|"))
	command.Flags().VarP(&output, "output", "o", "Linting results output format. "+output.Usage())
	command.Flags().BoolVar(&strict, "strict", true, "Perform strict workflow validation")
	command.Flags().BoolVar(&offline, "offline", false, "perform offline linting; references are resolved from the provided args")
	command.Flags().BoolVar(&common.NoColor, "no-color", false, "Disable colorized output")
	return command
}

func main() {
	var logLevel, logFormat string
	root := &cobra.Command{Use: "argo", Short: "argo lint, from the argo-workflows module", SilenceUsage: true}
	client.AddKubectlFlagsToCmd(root)
	client.AddAPIClientFlagsToCmd(root)
	root.PersistentFlags().StringVar(&logLevel, "loglevel", "info", "Set the logging level. One of: debug|info|warn|error")
	root.PersistentFlags().StringVar(&logFormat, "log-format", "text", "The formatter to use for logs. One of: text|json")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		_, _, err := cmdutil.CmdContextWithLogger(cmd, logLevel, logFormat)
		return err
	}
	root.AddCommand(newLintCommand(), &cobra.Command{
		Use:   "version",
		Short: "print the argo-workflows module version this binary was built from",
		Run: func(*cobra.Command, []string) {
			info, _ := debug.ReadBuildInfo()
			for _, dep := range info.Deps {
				if strings.HasPrefix(dep.Path, "github.com/argoproj/argo-workflows/") {
					fmt.Println(dep.Path, dep.Version)
				}
			}
		},
	})
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
