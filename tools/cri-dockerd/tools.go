//go:build tools

package tools

import _ "github.com/Mirantis/cri-dockerd"
