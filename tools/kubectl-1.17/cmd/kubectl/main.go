// Command kubectl is kubectl 1.17.17 reduced to `rolling-update`: the command's own code
// (k8s.io/kubectl@v0.17.17/pkg/cmd/rollingupdate), wired the way kubectl 1.17's root
// command wired it (k8s.io/kubernetes/pkg/kubectl/cmd.NewKubectlCommand): the
// genericclioptions config flags, the match-version flags, cmdutil.NewFactory and
// IOStreams on the process's stdio. The end-to-end scenario `kubectl-1.17` runs it side by
// side with our plugin on the same cluster.
//
// Usage:
//
//	kubectl rolling-update OLD [NEW] (--image=IMAGE | -f FILE | --rollback) [flags]
package main

import (
	goflag "flag"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog"
	"k8s.io/kubectl/pkg/cmd/rollingupdate"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	klog.InitFlags(nil)
	streams := genericclioptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}

	root := &cobra.Command{
		Use:   "kubectl",
		Short: "kubectl controls the Kubernetes cluster manager (1.17.17, rolling-update only)",
		Run: func(cmd *cobra.Command, args []string) {
			_ = cmd.Help()
		},
	}
	flags := root.PersistentFlags()
	flags.SetNormalizeFunc(cliflag.WarnWordSepNormalizeFunc)
	flags.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)

	kubeConfigFlags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag()
	kubeConfigFlags.AddFlags(flags)
	matchVersionKubeConfigFlags := cmdutil.NewMatchVersionFlags(kubeConfigFlags)
	matchVersionKubeConfigFlags.AddFlags(flags)
	flags.AddGoFlagSet(goflag.CommandLine)

	f := cmdutil.NewFactory(matchVersionKubeConfigFlags)
	root.AddCommand(rollingupdate.NewCmdRollingUpdate(f, streams))

	pflag.CommandLine.SetNormalizeFunc(cliflag.WordSepNormalizeFunc)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
	klog.Flush()
}
