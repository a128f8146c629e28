// Command kubectl-hash prints the hash `kubectl rolling-update --image` gave a
// ReplicationController, computed with Kubernetes' own Go code.
//
// It reads an RC as an API server returns it (a file argument, or stdin),
// decodes it as client-go's typed client does, optionally sets a container's
// image (and pull policy) as kubectl's CreateNewControllerFromCurrentController
// did, and prints kubectl's util.HashObject of it:
//
//	fmt.Sprintf("%x", md5.Sum(runtime.Encode(scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), rc)))
//
// with kubectl's own scheme (k8s.io/kubectl/pkg/scheme) and apimachinery's real
// JSON serializer. HashObject itself went away with rolling-update (kubectl
// v1.18); its three lines are repeated below.
//
// Usage:
//
//	go run . [-image IMAGE] [-container NAME] [-pull-policy POLICY] [-print-json] RC.json
package main

import (
	"bytes"
	"crypto/md5"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubectl/pkg/scheme"
)

// hashObject is kubectl's k8s.io/kubectl/pkg/util.HashObject (v0.17).
func hashObject(obj runtime.Object, codec runtime.Codec) (string, []byte, error) {
	data, err := runtime.Encode(codec, obj)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("%x", md5.Sum(data)), data, nil
}

// decode reads an RC the way client-go's typed client does: the negotiated
// JSON serializer of scheme.Codecs.WithoutConversion(), decoding into a typed
// object and clearing its TypeMeta (runtime.WithoutVersionDecoder).
func decode(data []byte) (*corev1.ReplicationController, error) {
	ns := scheme.Codecs.WithoutConversion()
	info, ok := runtime.SerializerInfoForMediaType(ns.SupportedMediaTypes(), runtime.ContentTypeJSON)
	if !ok {
		return nil, fmt.Errorf("no JSON serializer")
	}
	decoder := ns.DecoderToVersion(info.Serializer, corev1.SchemeGroupVersion)
	obj, _, err := decoder.Decode(data, nil, &corev1.ReplicationController{})
	if err != nil {
		return nil, err
	}
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, fmt.Errorf("not a ReplicationController: %T", obj)
	}
	return rc, nil
}

// warnUnsortedFields reports managedFields whose fieldsV1 keys are not in
// sorted order: the Rust side keeps fieldsV1 as a serde_json::Value, whose
// objects are sorted, so such a fixture could not match.
func warnUnsortedFields(rc *corev1.ReplicationController) {
	for i, mf := range rc.ManagedFields {
		if mf.FieldsV1 == nil {
			continue
		}
		var v interface{}
		if err := json.Unmarshal(mf.FieldsV1.Raw, &v); err != nil {
			continue
		}
		sorted, _ := json.Marshal(v)
		var compact bytes.Buffer
		_ = json.Compact(&compact, mf.FieldsV1.Raw)
		if !bytes.Equal(sorted, compact.Bytes()) {
			fmt.Fprintf(os.Stderr, "warning: managedFields[%d].fieldsV1 is not in sorted key order\n", i)
		}
	}
}

func main() {
	image := flag.String("image", "", "set this image, as `kubectl rolling-update --image` did before hashing")
	container := flag.String("container", "", "the container to update (default: the first)")
	pullPolicy := flag.String("pull-policy", "", "also set this imagePullPolicy (--image-pull-policy)")
	printJSON := flag.Bool("print-json", false, "also print the hashed bytes to stderr")
	flag.Parse()

	var data []byte
	var err error
	if flag.NArg() > 0 {
		data, err = os.ReadFile(flag.Arg(0))
	} else {
		data, err = io.ReadAll(os.Stdin)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rc, err := decode(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	warnUnsortedFields(rc)

	// CreateNewControllerFromCurrentController: the container, then the image.
	if *image != "" {
		containers := rc.Spec.Template.Spec.Containers
		index := -1
		for i, c := range containers {
			if *container == "" || c.Name == *container {
				index = i
				break
			}
		}
		if index < 0 {
			fmt.Fprintf(os.Stderr, "container %q not found\n", *container)
			os.Exit(1)
		}
		containers[index].Image = *image
		if *pullPolicy != "" {
			containers[index].ImagePullPolicy = corev1.PullPolicy(*pullPolicy)
		}
	}

	codec := scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion)
	hash, encoded, err := hashObject(rc, codec)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *printJSON {
		os.Stderr.Write(encoded)
	}
	fmt.Println(hash)
}
