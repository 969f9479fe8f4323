package mongo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/crawlhub/crawlhub/store"
)

// An item is stored as a document with the item's own keys at the top, so
// that the data can be queried in MongoDB as people expect, beside the
// store's fields, named by store.ReservedItemKeys. These convert between
// the item's JSON and that document.

// jsonToDoc converts a JSON object (checked by store.PrepareItems) to a
// document with the same keys in the same order. exact is false when part
// of it cannot be a field as it is: a key with a '.', a '$' first or a NUL
// (which FerretDB and older MongoDB refuse), a number neither an int64 nor
// a double holds (FerretDB v1 has no Decimal128), nesting deeper than
// MongoDB's limit. Such fields are left out of the document, and the
// store keeps the whole item as JSON text beside it (see items).
func jsonToDoc(item []byte) (doc bson.D, exact bool, err error) {
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, false, err
	}
	if tok != json.Delim('{') {
		return nil, false, fmt.Errorf("not a JSON object")
	}
	return decodeObject(dec, 1)
}

// maxDepth is how deep documents may nest: MongoDB allows 100 levels, and
// the store's own fields take none.
const maxDepth = 100

// decodeObject reads the rest of an object whose '{' dec has read, at
// nesting depth; ok is false if a field of it could not be kept.
func decodeObject(dec *json.Decoder, depth int) (d bson.D, ok bool, err error) {
	d, ok = bson.D{}, true
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false, err
		}
		key, _ := tok.(string)
		v, vok, err := decodeValue(dec, depth)
		if err != nil {
			return nil, false, err
		}
		if !vok || strings.ContainsAny(key, ".\x00") || strings.HasPrefix(key, "$") {
			ok = false
			continue
		}
		d = append(d, bson.E{Key: key, Value: v})
	}
	_, err = dec.Token() // '}'
	return d, ok, err
}

func decodeValue(dec *json.Decoder, depth int) (v any, ok bool, err error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, false, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			d, ok, err := decodeObject(dec, depth+1)
			return d, ok && depth < maxDepth, err
		}
		a, ok := bson.A{}, depth < maxDepth
		for dec.More() {
			v, vok, err := decodeValue(dec, depth+1)
			if err != nil {
				return nil, false, err
			}
			a, ok = append(a, v), ok && vok
		}
		_, err := dec.Token() // ']'
		return a, ok, err
	case json.Number:
		v, ok := number(string(t))
		return v, ok, nil
	default: // string, bool, nil
		return t, true, nil
	}
}

// number returns the int64 or double that is s, and whether it is s.
func number(s string) (any, bool) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	if strings.ContainsAny(s, ".eE") {
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	}
	return nil, false // an integer past int64
}

func isReserved(key string) bool { return slices.Contains(store.ReservedItemKeys, key) }

// writeJSON writes v, a value decoded from an item's document, as JSON;
// at the top (top true) it leaves out the reserved fields.
func writeJSON(w *bytes.Buffer, v bson.RawValue, top bool) error {
	switch v.Type {
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		doc := bson.Raw(v.Value)
		elems, err := doc.Elements()
		if err != nil {
			return err
		}
		isArray := v.Type == bson.TypeArray
		open, closing := byte('{'), byte('}')
		if isArray {
			open, closing = '[', ']'
		}
		w.WriteByte(open)
		first := true
		for _, e := range elems {
			if top && isReserved(e.Key()) {
				continue
			}
			if !first {
				w.WriteByte(',')
			}
			first = false
			if !isArray {
				writeString(w, e.Key())
				w.WriteByte(':')
			}
			if err := writeJSON(w, e.Value(), false); err != nil {
				return err
			}
		}
		w.WriteByte(closing)
	case bson.TypeString:
		writeString(w, v.StringValue())
	case bson.TypeInt32:
		w.WriteString(strconv.FormatInt(int64(v.Int32()), 10))
	case bson.TypeInt64:
		w.WriteString(strconv.FormatInt(v.Int64(), 10))
	case bson.TypeDouble:
		b, err := json.Marshal(v.Double())
		if err != nil {
			return err
		}
		w.Write(b)
	case bson.TypeDecimal128:
		w.WriteString(v.Decimal128().String())
	case bson.TypeBoolean:
		w.WriteString(strconv.FormatBool(v.Boolean()))
	case bson.TypeNull, bson.TypeUndefined:
		w.WriteString("null")
	default:
		// Not written by AppendItems; someone edited the collection. Say
		// what it is rather than fail the whole read.
		writeString(w, v.String())
	}
	return nil
}

func writeString(w *bytes.Buffer, s string) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	w.Truncate(w.Len() - 1)
}
