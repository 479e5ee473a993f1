// varmor-s3: the all-in-one chart's object store (charts/varmor-modeler, allInOne.enabled): an
// S3-protocol server in one process, its buckets in one BoltDB file on a volume. For trying
// varmor-modeler on a small cluster (kind); in production point store.url at real S3 or another
// S3-protocol service. It checks no credentials: only the chart's own pods reach its Service.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3bolt"
)

func main() {
	listen := flag.String("listen", ":8333", "address to serve S3 on")
	db := flag.String("db", "/data/s3.db", "BoltDB file holding the buckets")
	bucket := flag.String("bucket", "", "bucket to create at start, if missing")
	flag.Parse()
	backend, err := s3bolt.NewFile(*db)
	if err != nil {
		log.Fatalf("varmor-s3: cannot open %s: %v", *db, err)
	}
	if *bucket != "" {
		if err := backend.CreateBucket(*bucket); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
			log.Fatalf("varmor-s3: cannot create bucket %s: %v", *bucket, err)
		}
	}
	log.Printf("varmor-s3: serving S3 on %s, data in %s", *listen, *db)
	log.Fatal(http.ListenAndServe(*listen, gofakes3.New(backend).Server()))
}
