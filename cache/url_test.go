package cache_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/serfigas/brilla-gateway/cache"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want redis.UniversalOptions // only the fields compared below
		tls  bool
	}{
		{"redis://127.0.0.1:6379", redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}, ContextTimeoutEnabled: true}, false},
		{"redis://localhost", redis.UniversalOptions{Addrs: []string{"localhost:6379"}, ContextTimeoutEnabled: true}, false},
		{"redis://:s3cret@cache:6380/4?dial_timeout=2s&pool_size=7", redis.UniversalOptions{Addrs: []string{"cache:6380"}, DB: 4, Password: "s3cret", DialTimeout: 2 * time.Second, PoolSize: 7, ContextTimeoutEnabled: true}, false},
		{"rediss://app:p%40ss@cache.example.com/2?context_timeout_enabled=false", redis.UniversalOptions{Addrs: []string{"cache.example.com:6379"}, DB: 2, Username: "app", Password: "p@ss"}, true},
		{"redis://[::1]:7000/1", redis.UniversalOptions{Addrs: []string{"[::1]:7000"}, DB: 1, ContextTimeoutEnabled: true}, false},
		{"redis-sentinel://:pw@s1:26379,s2:26380,s3/mymaster?db=3",
			redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26380", "s3:26379"}, MasterName: "mymaster", DB: 3, Password: "pw", ContextTimeoutEnabled: true}, false},
		{"redis-sentinel://s1/mymaster", redis.UniversalOptions{Addrs: []string{"s1:26379"}, MasterName: "mymaster", ContextTimeoutEnabled: true}, false},
		{"redis-sentinel://u:pw@s1,s2/m1?sentinel_password=sp&sentinel_username=su&read_timeout=1s",
			redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m1", Username: "u", Password: "pw", SentinelUsername: "su", SentinelPassword: "sp", ReadTimeout: time.Second, ContextTimeoutEnabled: true}, false},
		{"rediss-sentinel://s1,s2/m1", redis.UniversalOptions{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "m1", ContextTimeoutEnabled: true}, true},
		{"redis-cluster://n1:7000,n2:7001,n3", redis.UniversalOptions{Addrs: []string{"n1:7000", "n2:7001", "n3:6379"}, IsClusterMode: true, ContextTimeoutEnabled: true}, false},
		{"redis-cluster://:pw@n1:7000/?read_only=true&max_redirects=5", redis.UniversalOptions{Addrs: []string{"n1:7000"}, Password: "pw", IsClusterMode: true, ReadOnly: true, MaxRedirects: 5, ContextTimeoutEnabled: true}, false},
		{"rediss-cluster://n1,n2", redis.UniversalOptions{Addrs: []string{"n1:6379", "n2:6379"}, IsClusterMode: true, ContextTimeoutEnabled: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := cache.ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			w := tt.want
			if !slices.Equal(got.Addrs, w.Addrs) || got.DB != w.DB || got.MasterName != w.MasterName ||
				got.IsClusterMode != w.IsClusterMode || got.Username != w.Username || got.Password != w.Password ||
				got.SentinelUsername != w.SentinelUsername || got.SentinelPassword != w.SentinelPassword ||
				got.DialTimeout != w.DialTimeout || got.ReadTimeout != w.ReadTimeout || got.PoolSize != w.PoolSize ||
				got.ReadOnly != w.ReadOnly || got.MaxRedirects != w.MaxRedirects || got.ContextTimeoutEnabled != w.ContextTimeoutEnabled {
				t.Fatalf("got  %+v\nwant %+v", *got, w)
			}
			if (got.TLSConfig != nil) != tt.tls {
				t.Fatalf("TLS = %v, want %v", got.TLSConfig != nil, tt.tls)
			}
			if tt.tls && (got.MasterName != "" || got.IsClusterMode) && got.TLSConfig.ServerName != "" {
				t.Fatalf("multi-host TLS must not pin ServerName %q", got.TLSConfig.ServerName)
			}
		})
	}
}

func TestParseURLErrorsHideThePassword(t *testing.T) {
	const pw = "Hunter2-Sup3rSecret"
	bad := []string{
		"redis://:" + pw + "@host:notaport",
		"redis://:" + pw + "@host/notadb",
		"redis://:" + pw + "@host/1?unknown_option=1",
		"redis://:" + pw + "@host/1?dial_timeout=soon",
		"redis://:" + pw + "@h1,h2",
		"redis-sentinel://:" + pw + "@s1,s2",
		"redis-sentinel://:" + pw + "@s1,s2/",
		"redis-sentinel://s1/m?sentinel_password=" + pw + "&bogus=1",
		"redis-cluster://:" + pw + "@n1/3",
		"redis-cluster://:" + pw + "@n1?db=2",
		"redis-cluster://:" + pw + "@n1,,n2",
		"memcached://:" + pw + "@host",
		":" + pw + "@host",
		"redis://user:" + pw + "%zz@host",
		"redis://:" + pw + "@[::1",
		"",
	}
	for _, u := range bad {
		t.Run(u, func(t *testing.T) {
			opts, err := cache.ParseURL(u)
			if err == nil {
				t.Fatalf("no error; got %+v", opts)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "Sup3r") {
				t.Fatalf("error leaks the password: %v", err)
			}
			if _, err2 := cache.NewClientFromURL(u); err2 == nil || strings.Contains(err2.Error(), pw) {
				t.Fatalf("NewClientFromURL: %v", err2)
			}
		})
	}
}

func TestNewClientFromURLKinds(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
	}{
		{"redis://127.0.0.1:6379/11", false},
		{"redis-sentinel://127.0.0.1:1,127.0.0.1:2/mymaster", false}, // failover client: a *redis.Client
		{"redis-cluster://127.0.0.1:1,127.0.0.1:2", true},
	}
	for _, tt := range tests {
		c, err := cache.NewClientFromURL(tt.url)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		_, isCluster := c.(*redis.ClusterClient)
		_, isClient := c.(*redis.Client)
		if isCluster != tt.cluster || isClient == tt.cluster {
			t.Errorf("%s: got %T", tt.url, c)
		}
		_ = c.Close()
	}
}
