package cli

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/node"
)

// tokenHelp is said with every refusal for want of a valid token.
const tokenHelp = `give an admin API token with --token or $TANDEM_TOKEN, or a file holding one with
--token-file or $TANDEM_TOKEN_FILE, or -f STACK to use the node's root token
(<cluster.data_dir>/admin/root.token); tandem token create makes more`

func (f *adminFlags) registerAuth(c *cobra.Command) {
	c.Flags().StringVar(&f.token, "token", "", "admin API token (default $TANDEM_TOKEN; a flag shows in ps: prefer $TANDEM_TOKEN or --token-file)")
	c.Flags().StringVar(&f.tokenFile, "token-file", "", "file holding the admin API token (default $TANDEM_TOKEN_FILE)")
	c.Flags().StringVar(&f.tlsCA, "tls-ca", "", "PEM file of the CA that signed the node's admin certificate (with --admin https://...)")
}

// credentials finds the token to call the node with: --token, else
// $TANDEM_TOKEN, else the file of --token-file or $TANDEM_TOKEN_FILE,
// else the root token of the stack file given with -f (st; nil without
// -f), else none. It also reads the CA of --tls-ca.
func (f *adminFlags) credentials(st *config.Stack) (admin.ClientOptions, error) {
	var o admin.ClientOptions
	o.Token = cmp.Or(f.token, os.Getenv("TANDEM_TOKEN"))
	if file := cmp.Or(f.tokenFile, os.Getenv("TANDEM_TOKEN_FILE")); o.Token == "" && file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return o, &exitError{code: ExitUsage, err: fmt.Errorf("read token file: %w", err)}
		}
		o.Token = strings.TrimSpace(string(data))
	}
	if o.Token == "" && st != nil {
		data, err := os.ReadFile(node.RootTokenFile(st))
		switch {
		case errors.Is(err, fs.ErrNotExist): // the node has not started yet: no token
		case err != nil:
			return o, fmt.Errorf("read the node's root token: %w", err)
		default:
			o.Token = strings.TrimSpace(string(data))
		}
	}
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return o, &exitError{code: ExitUsage, err: fmt.Errorf("read --tls-ca: %w", err)}
		}
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM(pem) {
			return o, &exitError{code: ExitUsage, err: fmt.Errorf("read --tls-ca: no PEM certificate in %s", f.tlsCA)}
		}
	}
	return o, nil
}
