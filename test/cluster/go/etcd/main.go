// Command etcd is the etcd server, built from the pinned module for Lanyard's test cluster.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
