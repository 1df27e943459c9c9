// Command testapp is the app tandem's end-to-end tests run as instances. It
// serves on $PORT and can be told, per instance, to hang or turn slow, so
// tests can show what the balancer and supervisor do about it.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	name := os.Getenv("TANDEM_INSTANCE")
	if port == "" {
		log.Fatal("testapp: PORT is not set")
	}
	if d, err := time.ParseDuration(os.Getenv("TESTAPP_STARTUP")); err == nil {
		time.Sleep(d) // a slow-starting monolith
	}
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
			h(w, r)
		}
	}
	mux.HandleFunc("GET /healthz", wrap(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	mux.HandleFunc("GET /", wrap(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", name)
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
}
