package host

// NginxPreamble is the start of nginx's configuration the benchmarks
// share, so that nginx is tuned alike wherever it is measured: 2 workers,
// no access log, error log at crit only, temp files in {{.Dir}},
// unlimited keep-alive requests from clients. It ends inside the http
// block, which the caller's upstream and server blocks follow and close.
// Its template fields: Dir, and Root (nginx runs as root).
const NginxPreamble = `
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 65536;
pid {{.Dir}}/nginx.pid;
error_log stderr crit;
{{if .Root}}user root;{{end}}
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path {{.Dir}}/client_body;
  proxy_temp_path {{.Dir}}/proxy_temp;
  fastcgi_temp_path {{.Dir}}/fastcgi_temp;
  uwsgi_temp_path {{.Dir}}/uwsgi_temp;
  scgi_temp_path {{.Dir}}/scgi_temp;
  keepalive_timeout 120s;
  keepalive_requests 100000000;
`
