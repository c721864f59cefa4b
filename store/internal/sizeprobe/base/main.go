// Command base is sizeprobe without the store: the baseline a driver's
// cost is measured against.
package main

import (
	"fmt"
	"os"
)

func main() { fmt.Println(len(os.Args)) }
