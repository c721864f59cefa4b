// Command sizeprobe is the smallest program that uses the store: it
// measures what the SQL driver adds to a router's binary.
//
//	GOOS=linux GOARCH=mipsle go build -trimpath -ldflags='-s -w' -o /tmp/p ./store/internal/sizeprobe && ls -l /tmp/p
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/licgate/licgate/store/local"
)

func main() {
	st, err := local.Open(context.Background(), os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer st.Close()
	us, err := st.Users(context.Background())
	fmt.Println(len(us), err)
}
