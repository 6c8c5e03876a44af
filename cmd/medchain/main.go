// Command medchain is the node software of a medical alliance chain: one
// binary for validators (init, start), their operators (keys, tx, query,
// status), alliance set-up (genesis, localnet) and a demo.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/medchain/medchain/node/client"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		var ce *client.CodeError
		if errors.As(err, &ce) {
			os.Exit(3)
		}
		// Commands with their own codes (audit replay: 2 the chain fails
		// the audit, 4 the copy is unreadable).
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		os.Exit(1)
	}
}
