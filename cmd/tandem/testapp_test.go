package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// testapp is the app the end-to-end tests run as instances: this test
// binary run as bin/testapp (see TestMain). It serves on $PORT and can be
// told, per instance, to hang or turn slow, so tests can show what the
// balancer and supervisor do about it. It exits when done.
//
// Environment knobs: TESTAPP_STARTUP (sleep before listening),
// TESTAPP_VERSION (sent as X-Version and in bodies), TESTAPP_UNHEALTHY=1
// (/healthz answers 503). "testapp release" is a release phase: it prints
// two lines and exits with $TESTAPP_RELEASE_EXIT.
func testapp() {
	if len(os.Args) > 1 && os.Args[1] == "release" {
		fmt.Printf("migrating to %s\n", os.Getenv("TANDEM_RELEASE"))
		code, _ := strconv.Atoi(os.Getenv("TESTAPP_RELEASE_EXIT"))
		if code != 0 {
			fmt.Fprintf(os.Stderr, "migration failed: table pages is locked\n")
		} else {
			fmt.Println("migrations done")
		}
		os.Exit(code)
	}
	port := os.Getenv("PORT")
	version := os.Getenv("TESTAPP_VERSION")
	name := os.Getenv("TANDEM_INSTANCE")
	if port == "" {
		log.Fatal("testapp: PORT is not set")
	}
	if d, err := time.ParseDuration(os.Getenv("TESTAPP_STARTUP")); err == nil {
		time.Sleep(d) // a slow-starting monolith
	}
	zone := os.Getenv("TANDEM_ZONE")
	var hang atomic.Bool
	var delay atomic.Int64
	mux := http.NewServeMux()
	wrap := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if hang.Load() {
				<-r.Context().Done() // accept, never answer
				return
			}
			time.Sleep(time.Duration(delay.Load()))
			w.Header().Set("X-Instance", name)
			w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
			w.Header().Set("X-Zone", zone)
			if version != "" {
				w.Header().Set("X-Version", version)
			}
			h(w, r)
		}
	}
	mux.HandleFunc("GET /healthz", wrap(func(w http.ResponseWriter, r *http.Request) {
		if os.Getenv("TESTAPP_UNHEALTHY") == "1" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	mux.HandleFunc("GET /", wrap(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", name)
	}))
	var served atomic.Int64
	mux.HandleFunc("GET /cacheable/", wrap(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		if tag := r.URL.Query().Get("tag"); tag != "" {
			w.Header().Set("Surrogate-Key", tag)
		}
		fmt.Fprintf(w, "%s response %d from %s\n", r.URL.Path, served.Add(1), name)
	}))
	mux.HandleFunc("GET /slow", wrap(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
			fmt.Fprintf(w, "slept %s on %s\n", d, name)
		case <-r.Context().Done():
		}
	}))
	mux.HandleFunc("POST /echo", wrap(func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		time.Sleep(d)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d bytes on %s\n", n, name)
	}))
	mux.HandleFunc("GET /status/{code}", wrap(func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = http.StatusBadRequest
		}
		http.Error(w, http.StatusText(code), code) // answers with that status
	}))
	mux.HandleFunc("GET /headers", wrap(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Write(w)
	}))
	// Controls, sent straight to one instance's port by the tests.
	mux.HandleFunc("POST /control/hang", func(w http.ResponseWriter, r *http.Request) { hang.Store(true) })
	mux.HandleFunc("POST /control/slow", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		delay.Store(int64(d))
	})
	mux.HandleFunc("POST /control/exit", func(w http.ResponseWriter, r *http.Request) { os.Exit(3) })

	srv := &http.Server{Addr: "127.0.0.1:" + port, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Printf("testapp %s listening on %s\n", name, port)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	os.Exit(0)
}
