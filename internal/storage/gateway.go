package storage

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// GatewayArg is the hidden subcommand of the tandem binary that runs the
// embedded object store: `tandem __objectstore -listen ADDR -dir DIR
// -meta DIR`, with its credentials in the environment (GatewayAccessEnv,
// GatewaySecretEnv) rather than in arguments any user can read. The node
// runs it as a supervised process: versitygw keeps process-wide state
// (its posix backend changes the working directory), and a crash of the
// store must not take the node with it.
const GatewayArg = "__objectstore"

// The environment the gateway reads its credentials from.
const (
	GatewayAccessEnv = "TANDEM_OBJECTSTORE_ACCESS_KEY"
	GatewaySecretEnv = "TANDEM_OBJECTSTORE_SECRET_KEY"
)

// GatewayHealthPath answers 200 without credentials while the gateway
// serves; no bucket can be named like it (bucket names have no '_').
const GatewayHealthPath = "/_tandem_health"

// GatewayOptions configure the embedded object store.
type GatewayOptions struct {
	Listen string // host:port
	Dir    string // the objects: bucket b's object k is Dir/b/k
	Meta   string // their metadata (ETags, content types), outside Dir
	Region string // "us-east-1" when empty
	Access string
	Secret string
}

// GatewayArgs are the arguments that make the tandem binary run the
// embedded store with o; the credentials go in GatewayEnv.
func GatewayArgs(o GatewayOptions) []string {
	return []string{GatewayArg, "-listen", o.Listen, "-dir", o.Dir, "-meta", o.Meta, "-region", o.Region}
}

// GatewayEnv is the environment that passes o's credentials.
func GatewayEnv(o GatewayOptions) []string {
	return []string{GatewayAccessEnv + "=" + o.Access, GatewaySecretEnv + "=" + o.Secret}
}

// GatewayMain is the gateway process's main: it parses args (those after
// GatewayArg), serves until SIGTERM or SIGINT, and returns the exit code.
func GatewayMain(args []string, stderr io.Writer) int {
	o, err := parseGatewayArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "tandem %s: %v\n", GatewayArg, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := RunGateway(ctx, o); err != nil {
		fmt.Fprintf(stderr, "tandem %s: %v\n", GatewayArg, err)
		return 1
	}
	return 0
}

func parseGatewayArgs(args []string) (GatewayOptions, error) {
	var o GatewayOptions
	fs := flag.NewFlagSet(GatewayArg, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Listen, "listen", "", "host:port to serve S3 on")
	fs.StringVar(&o.Dir, "dir", "", "directory of the objects")
	fs.StringVar(&o.Meta, "meta", "", "directory of their metadata")
	fs.StringVar(&o.Region, "region", "us-east-1", "region reported to clients")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Access, o.Secret = os.Getenv(GatewayAccessEnv), os.Getenv(GatewaySecretEnv)
	switch {
	case o.Listen == "" || o.Dir == "" || o.Meta == "":
		return o, errors.New("-listen, -dir and -meta are required")
	case o.Access == "" || o.Secret == "":
		return o, fmt.Errorf("%s and %s must be set", GatewayAccessEnv, GatewaySecretEnv)
	}
	return o, nil
}

// RunGateway serves S3 on o.Listen over o.Dir until ctx ends. It may run
// once per process.
func RunGateway(ctx context.Context, o GatewayOptions) error {
	for _, d := range []string{o.Dir, o.Meta} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	sidecar, err := meta.NewSideCar(o.Meta)
	if err != nil {
		return fmt.Errorf("gateway: metadata directory: %w", err)
	}
	opts := posix.PosixOpts{SideCarDir: o.Meta, Concurrency: 512}
	opts.SetNewDirPerm(fs.FileMode(0o750))
	opts.SetNewFilePerm(fs.FileMode(0o640))
	be, err := posix.New(dir, sidecar, opts)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer be.Shutdown()
	err = embedgw.RunVersityGW(ctx, be, &embedgw.Config{
		RootUserAccess:    o.Access,
		RootUserSecret:    o.Secret,
		Region:            o.Region,
		Ports:             []string{o.Listen},
		MaxConnections:    10000,
		MaxRequests:       2000,
		MultipartMaxParts: 10000,
		KeepAlive:         true,
		Quiet:             true,
		HealthPath:        GatewayHealthPath,
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}
