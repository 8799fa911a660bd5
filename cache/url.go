package cache

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewClientFromURL returns a go-redis universal client for a URL in one of
// the forms ParseURL accepts. It does not connect: go-redis dials lazily.
func NewClientFromURL(rawURL string) (redis.UniversalClient, error) {
	opts, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return redis.NewUniversalClient(opts), nil
}

// ParseURL turns a Redis URL into go-redis UniversalOptions. Accepted forms
// (the "rediss" variants use TLS):
//
//	redis://[[user]:password@]host[:6379][/db][?option=value...]
//	rediss://...
//	    one node (redis.ParseURL syntax).
//	redis-sentinel://[[user]:password@]host1[:26379][,host2[:26379]...]/mastername[?db=N&option=value...]
//	rediss-sentinel://...
//	    Sentinel: the hosts are sentinels, the path is the master's name, the
//	    userinfo authenticates to the master; sentinel_username and
//	    sentinel_password (query) authenticate to the sentinels if they
//	    require it.
//	redis-cluster://[[user]:password@]host1[:6379][,host2[:6379]...][?option=value...]
//	rediss-cluster://...
//	    Cluster: the hosts are seed nodes (one is enough); no database number.
//
// Options are go-redis's URL query parameters (dial_timeout, read_timeout,
// write_timeout, pool_size, pool_timeout, min_idle_conns, max_retries,
// client_name, protocol, skip_verify, ...; durations as "500ms" or whole
// seconds; unknown names are an error), plus:
//
//	context_timeout_enabled  default true here (go-redis: false), so a
//	                         context deadline bounds socket reads and writes
//	max_retries, max_retry_backoff   default 1 and 64ms here (go-redis: 3
//	                         and 512ms), so an outage is noticed quickly
//	db                       database number (single node and Sentinel)
//	read_only, route_by_latency, route_randomly   Sentinel and Cluster
//	max_redirects            Cluster
//
// Userinfo parts may be percent-encoded. Errors never contain the password.
func ParseURL(rawURL string) (*redis.UniversalOptions, error) {
	opts, err := parseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cache: invalid Redis URL: %s", scrubSecrets(rawURL, err))
	}
	return opts, nil
}

type urlKind int

const (
	kindSingle urlKind = iota
	kindSentinel
	kindCluster
)

func parseURL(raw string) (*redis.UniversalOptions, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(raw), "://")
	if !ok {
		return nil, errors.New("missing scheme (want redis://, rediss://, redis-sentinel:// or redis-cluster://)")
	}
	var (
		kind        urlKind
		tls         bool
		defaultPort = "6379"
	)
	switch strings.ToLower(scheme) {
	case "redis":
	case "rediss":
		tls = true
	case "redis-sentinel":
		kind, defaultPort = kindSentinel, "26379"
	case "rediss-sentinel":
		kind, defaultPort, tls = kindSentinel, "26379", true
	case "redis-cluster":
		kind = kindCluster
	case "rediss-cluster":
		kind, tls = kindCluster, true
	default:
		return nil, fmt.Errorf("unsupported scheme %q", scheme)
	}

	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	var userinfo *url.Userinfo
	hostList := authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		var err error
		if userinfo, err = parseUserinfo(authority[:i]); err != nil {
			return nil, err
		}
		hostList = authority[i+1:]
	}
	addrs, err := parseHosts(hostList, defaultPort)
	if err != nil {
		return nil, err
	}
	if kind == kindSingle && len(addrs) > 1 {
		return nil, errors.New("several hosts need redis-sentinel:// or redis-cluster://")
	}

	ref, err := url.Parse(tail)
	if err != nil {
		return nil, errors.New("malformed path or query")
	}
	q := ref.Query()
	take := func(name string) (string, bool) {
		v, ok := q[name]
		if !ok {
			return "", false
		}
		q.Del(name)
		if len(v) == 0 {
			return "", true
		}
		return v[len(v)-1], true
	}
	takeBool := func(name string) (bool, error) {
		v, ok := take(name)
		if !ok || v == "" {
			return false, nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, fmt.Errorf("option %s: want true or false", name)
		}
		return b, nil
	}

	// A Redis that went away should be noticed in well under a second,
	// so the memory fallbacks take over quickly: one retry with a short
	// backoff unless the URL says otherwise.
	_, explicitRetries := q["max_retries"]
	_, explicitBackoff := q["max_retry_backoff"]
	ctxTimeout := true
	if v, ok := take("context_timeout_enabled"); ok && v != "" {
		if ctxTimeout, err = strconv.ParseBool(v); err != nil {
			return nil, errors.New("option context_timeout_enabled: want true or false")
		}
	}
	var (
		masterName, sentinelUser, sentinelPass string
		readOnly, byLatency, randomly          bool
		maxRedirects                           int
	)
	if kind != kindSingle {
		if readOnly, err = takeBool("read_only"); err != nil {
			return nil, err
		}
		if byLatency, err = takeBool("route_by_latency"); err != nil {
			return nil, err
		}
		if randomly, err = takeBool("route_randomly"); err != nil {
			return nil, err
		}
	}
	path := strings.Trim(ref.Path, "/")
	switch kind {
	case kindSentinel:
		if path == "" || strings.Contains(path, "/") {
			return nil, errors.New("sentinel URL needs the master name as its path: redis-sentinel://host1,host2/mastername")
		}
		masterName = path
		path = ""
		sentinelUser, _ = take("sentinel_username")
		sentinelPass, _ = take("sentinel_password")
	case kindCluster:
		if path != "" {
			return nil, errors.New("cluster URL takes no path (Redis Cluster has no database numbers)")
		}
		if v, ok := take("db"); ok && v != "" && v != "0" {
			return nil, errors.New("cluster URL takes no db (Redis Cluster has no database numbers)")
		}
		if v, ok := take("max_redirects"); ok && v != "" {
			if maxRedirects, err = strconv.Atoi(v); err != nil {
				return nil, errors.New("option max_redirects: want an integer")
			}
		}
	}

	// Let go-redis parse the options common to every form from an equivalent
	// single-node URL.
	base := url.URL{Scheme: "redis", User: userinfo, Host: addrs[0], RawQuery: q.Encode()}
	if tls {
		base.Scheme = "rediss"
	}
	if path != "" {
		base.Path = "/" + path
	}
	o, err := redis.ParseURL(base.String())
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, err
	}

	if !explicitRetries {
		o.MaxRetries = 1
	}
	if !explicitBackoff {
		o.MaxRetryBackoff = 64 * time.Millisecond
	}
	u := &redis.UniversalOptions{
		Addrs:                   addrs,
		ClientName:              o.ClientName,
		DB:                      o.DB,
		Protocol:                o.Protocol,
		Username:                o.Username,
		Password:                o.Password,
		MaxRetries:              o.MaxRetries,
		MinRetryBackoff:         o.MinRetryBackoff,
		MaxRetryBackoff:         o.MaxRetryBackoff,
		DialTimeout:             o.DialTimeout,
		ReadTimeout:             o.ReadTimeout,
		WriteTimeout:            o.WriteTimeout,
		ContextTimeoutEnabled:   ctxTimeout,
		PoolFIFO:                o.PoolFIFO,
		PoolSize:                o.PoolSize,
		PoolTimeout:             o.PoolTimeout,
		MinIdleConns:            o.MinIdleConns,
		MaxIdleConns:            o.MaxIdleConns,
		MaxActiveConns:          o.MaxActiveConns,
		MaxConcurrentDials:      o.MaxConcurrentDials,
		PipelinePoolSize:        o.PipelinePoolSize,
		PipelineReadBufferSize:  o.PipelineReadBufferSize,
		PipelineWriteBufferSize: o.PipelineWriteBufferSize,
		ConnMaxIdleTime:         o.ConnMaxIdleTime,
		ConnMaxLifetime:         o.ConnMaxLifetime,
		ConnMaxLifetimeJitter:   o.ConnMaxLifetimeJitter,
		TLSConfig:               o.TLSConfig,
		MasterName:              masterName,
		SentinelUsername:        sentinelUser,
		SentinelPassword:        sentinelPass,
		ReadOnly:                readOnly,
		RouteByLatency:          byLatency,
		RouteRandomly:           randomly,
		MaxRedirects:            maxRedirects,
		IsClusterMode:           kind == kindCluster,
	}
	if u.TLSConfig != nil && kind != kindSingle {
		// Sentinel masters and cluster nodes are other hosts than the first
		// one in the URL: let crypto/tls take each server name from the
		// address it dials.
		u.TLSConfig.ServerName = ""
	}
	return u, nil
}

func parseUserinfo(s string) (*url.Userinfo, error) {
	user, pass, hasPass := strings.Cut(s, ":")
	user, err1 := url.PathUnescape(user)
	pass, err2 := url.PathUnescape(pass)
	if err1 != nil || err2 != nil {
		return nil, errors.New("malformed percent-encoding in the userinfo")
	}
	if !hasPass {
		return url.User(user), nil
	}
	return url.UserPassword(user, pass), nil
}

func parseHosts(list, defaultPort string) ([]string, error) {
	if list == "" {
		return nil, errors.New("no host")
	}
	parts := strings.Split(list, ",")
	addrs := make([]string, 0, len(parts))
	for _, h := range parts {
		h = strings.TrimSpace(h)
		var host, port string
		switch {
		case h == "":
			return nil, errors.New("empty host in the host list")
		case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"): // [v6] without port
			host, port = h[1:len(h)-1], defaultPort
		case !strings.Contains(h, ":"):
			host, port = h, defaultPort
		default:
			var err error
			if host, port, err = net.SplitHostPort(h); err != nil {
				return nil, fmt.Errorf("bad host %q", h)
			}
		}
		if host == "" {
			return nil, fmt.Errorf("bad host %q", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port in host %q", h)
		}
		addrs = append(addrs, net.JoinHostPort(host, port))
	}
	return addrs, nil
}

// scrubSecrets renders err with any password found in raw (userinfo or
// sentinel_password), raw or percent-decoded, replaced by "xxxxx".
func scrubSecrets(raw string, err error) string {
	msg := err.Error()
	var secrets []string
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		authority := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			authority = rest[:i]
		}
		if i := strings.LastIndex(authority, "@"); i >= 0 {
			if _, pass, ok := strings.Cut(authority[:i], ":"); ok {
				secrets = append(secrets, pass)
			}
		}
		if _, query, ok := strings.Cut(rest, "?"); ok {
			for _, kv := range strings.Split(query, "&") {
				if k, v, ok := strings.Cut(kv, "="); ok && strings.Contains(strings.ToLower(k), "password") {
					secrets = append(secrets, v)
				}
			}
		}
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		msg = strings.ReplaceAll(msg, s, "xxxxx")
		if d, err := url.PathUnescape(s); err == nil && d != "" {
			msg = strings.ReplaceAll(msg, d, "xxxxx")
		}
		if d, err := url.QueryUnescape(s); err == nil && d != "" {
			msg = strings.ReplaceAll(msg, d, "xxxxx")
		}
	}
	return msg
}
