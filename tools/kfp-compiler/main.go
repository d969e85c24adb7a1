// kfp-argo-compiler: KFP's own backend compiler, run outside a KFP installation.
//
// It reads a compiled pipeline (the multi-document YAML the kfp SDK writes: the PipelineSpec and,
// when present, the platform spec) exactly as the KFP apiserver does
// (backend/src/apiserver/template.NewV2SpecTemplate), builds the PipelineJob the apiserver builds
// for a run (V2Spec.RunWorkflow, with the pipeline's own defaults as the run's parameters), and
// writes the Argo Workflow that argocompiler.Compile returns: what a Kubeflow backend would run.
//
//	kfp-argo-compiler IR.yaml OUT.yaml
package main

import (
	"fmt"
	"os"

	"github.com/kubeflow/pipelines/api/v2alpha1/go/pipelinespec"
	"github.com/kubeflow/pipelines/backend/src/apiserver/config/proxy"
	"github.com/kubeflow/pipelines/backend/src/apiserver/template"
	"github.com/kubeflow/pipelines/backend/src/v2/compiler/argocompiler"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"sigs.k8s.io/yaml"
)

// The images of the KFP release this wrapper pins (fixed, so the output does not depend on the
// environment variables argocompiler would otherwise read).
const (
	launcherImage = "ghcr.io/kubeflow/kfp-launcher:2.17.0"
	driverImage   = "ghcr.io/kubeflow/kfp-driver:2.17.0"
)

func compile(in, out string) error {
	proxy.InitializeConfig("", "", "") // an apiserver with no HTTP proxy configured
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	spec, err := template.NewV2SpecTemplate(raw, template.TemplateOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	asJSON, err := protojson.Marshal(spec.PipelineSpec())
	if err != nil {
		return err
	}
	specStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(asJSON, specStruct); err != nil {
		return err
	}
	job := &pipelinespec.PipelineJob{
		PipelineSpec: specStruct,
		DisplayName:  spec.PipelineSpec().GetPipelineInfo().GetName(),
	}
	var kubernetes *pipelinespec.SinglePlatformSpec
	if platforms := spec.PlatformSpec(); platforms != nil {
		kubernetes = platforms.GetPlatforms()["kubernetes"]
	}
	wf, err := argocompiler.Compile(job, kubernetes, &argocompiler.Options{
		LauncherImage: launcherImage,
		DriverImage:   driverImage,
	})
	if err != nil {
		return fmt.Errorf("%s: argocompiler.Compile: %w", in, err)
	}
	text, err := yaml.Marshal(wf)
	if err != nil {
		return err
	}
	return os.WriteFile(out, text, 0o644)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: kfp-argo-compiler IR.yaml OUT.yaml")
		os.Exit(2)
	}
	if err := compile(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "kfp-argo-compiler:", err)
		os.Exit(1)
	}
}
