// Command printinfo prints buildinfo.Get() as JSON; buildinfo's test links it
// with -X flags to prove the variable names tools/dist uses are the real ones.
package main

import (
	"encoding/json"
	"os"

	"github.com/licgate/licgate/buildinfo"
)

func main() {
	json.NewEncoder(os.Stdout).Encode(buildinfo.Get())
}
