//go:build tools

// Package tools pins Argo's CLI, controller and executor so that `go build
// github.com/argoproj/argo-workflows/v4/cmd/<name>` resolves through this module.
package tools

import (
	_ "github.com/argoproj/argo-workflows/v4/cmd/argo"
	_ "github.com/argoproj/argo-workflows/v4/cmd/argoexec"
	_ "github.com/argoproj/argo-workflows/v4/cmd/workflow-controller"
)
