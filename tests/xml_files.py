"""XML files shaped like real exports, for the XML reader's tests (unit and vs real Spark): each
case is (file name, rowTag, content). Namespaces, CDATA, entities, attributes only, mixed content,
nested and repeated elements, a corrupt record, values of every inferred type."""

from __future__ import annotations

from pathlib import Path

CASES: dict[str, tuple[str, str]] = {
    # a catalogue export: attributes, nested and repeated elements, dates, timestamps, doubles
    "catalog": ("book", """<?xml version="1.0" encoding="UTF-8"?>
<catalog>
  <book id="bk101" available="true">
    <author>Gambardella, Matthew</author>
    <title><![CDATA[XML <Developer's> Guide]]></title>
    <price currency="USD">44.95</price>
    <publish_date>2000-10-01</publish_date>
    <updated>2000-10-01T12:30:00Z</updated>
    <tag>a</tag><tag>b</tag>
    <dims><w>1</w><h>2.5</h></dims>
    <flag>true</flag>
    <empty/>
  </book>
  <book id="bk102">
    <author>Ralls, Kim</author>
    <title>Midnight Rain</title>
    <price>5</price>
    <publish_date>2000-12-16</publish_date>
    <updated>2001-01-01 08:00:00</updated>
    <tag>c</tag>
    <dims><w>3</w></dims>
    <flag>false</flag>
    <big>12345678901234</big>
  </book>
  <book id="bk103" only="x"/>
</catalog>
"""),
    # namespaced SOAP-like export: prefixes kept in names, xmlns declarations
    "namespaces": ("ns:item", """<?xml version="1.0"?>
<ns:feed xmlns:ns="urn:example:feed" xmlns:geo="urn:example:geo">
  <ns:item ns:kind="point">
    <ns:name>Alpha</ns:name>
    <geo:lat>52.52</geo:lat><geo:lon>13.40</geo:lon>
  </ns:item>
  <ns:item ns:kind="area">
    <ns:name>Beta</ns:name>
    <geo:lat>48</geo:lat><geo:lon>2.35</geo:lon>
  </ns:item>
</ns:feed>
"""),
    # entities: predefined and numeric ones read fine; one declared in the DTD is undefined in a record
    "entities": ("row", """<?xml version="1.0"?>
<!DOCTYPE rows [ <!ENTITY co "Acme"> ]>
<rows>
  <row><name>Fish &amp; Chips</name><code>&#65;&#x42;</code><qty>3</qty></row>
  <row><name>&lt;tag&gt; &quot;q&quot; &apos;a&apos;</name><code>C</code><qty>4</qty></row>
  <row><name>&co;</name><code>D</code><qty>5</qty></row>
</rows>
"""),
    # attributes only: self-closing rows
    "attributes_only": ("rec", """<?xml version="1.0"?>
<export>
  <rec id="1" amount="10.5" day="2024-01-31" ok="true"/>
  <rec id="2" amount="7" day="2024-02-01" ok="false"/>
  <rec id="3" amount="" day="2024-02-02" ok="TRUE" note="n"/>
</export>
"""),
    # mixed content: text around child elements, an element with text and attributes
    "mixed": ("p", """<doc>
  <p>Hello <b>world</b> and <i>more</i> text</p>
  <p>Plain text only</p>
  <p lang="en">Tagged <b>bold</b></p>
  <p><b>only bold</b></p>
</doc>
"""),
    # nested and repeated elements: arrays of structs, structs with attributes and _VALUE
    "orders": ("order", """<orders>
  <order no="1">
    <customer><name>Ann</name><since>2019-05-01</since></customer>
    <line sku="A1"><qty>2</qty><price>3.5</price></line>
    <line sku="B2"><qty>1</qty><price>10</price></line>
    <note priority="high">call first</note>
  </order>
  <order no="2">
    <customer><name>Bob</name></customer>
    <line sku="C3"><qty>5</qty></line>
    <note>leave at door</note>
  </order>
  <order no="3"><customer><name>Cy</name><since>never</since></customer></order>
</orders>
"""),
    # the rowTag nested in itself, comments, processing instructions, whitespace-only elements
    "nested_rowtag": ("node", """<tree>
  <!-- a comment -->
  <node id="1"><label>root</label><node id="2"><label>child</label></node></node>
  <?pi something?>
  <node id="3"><label>   </label><value> 42 </value></node>
</tree>
"""),
    # empty elements with attributes, a whitespace-only element
    "empty_attributes": ("r", """<rs>
  <r><link href="a.html"/><code>1</code><blank>  </blank><n>7</n></r>
  <r><link href="b.html" rel="x"></link><code>2</code><blank></blank><n>2024-01-01</n></r>
</rs>
"""),
    # values: Spark's number, boolean, date and timestamp rules (one column per rule)
    "values": ("v", """<vs>
  <v><lead>007</lead><plus>+5</plus><big>99999999999999999999</big><exp>1.0E10</exp><dot>.5</dot>
     <trail>5.</trail><inf>1e400</inf><hex>0x1A</hex><suffix>1.5d</suffix><comma>1,000</comma>
     <bool>True</bool><ts>2024-03-01T10:15:30+01:00</ts><tsz>2024-03-01 10:15:30.123456</tsz>
     <d2>2024/03/01</d2><month>2024-03</month><neg>-0</neg><nan>NaN</nan></v>
  <v><lead>8</lead><plus>-6</plus><big>1</big><exp>2</exp><dot>1</dot><trail>6</trail><inf>1</inf>
     <hex>0x1B</hex><suffix>2</suffix><comma>2</comma><bool>false</bool><ts>2024-03-02</ts>
     <tsz>2024-03-02T00:00:00</tsz><d2>2024/03/02</d2><month>2024-04</month><neg>1.5</neg><nan>1</nan></v>
</vs>
"""),
    # merges across records: long+date, bool+long, struct with _VALUE + primitive, CDATA in text
    "merges": ("m", """<ms>
  <m><a>1</a><b>true</b><c unit="kg">5</c><name>x</name><t>pre <![CDATA[<raw>]]> post</t><e/></m>
  <m><a>2024-01-01</a><b>3</b><c>7.5</c><name>y</name><t>plain</t><e>2</e></m>
  <m><a>x</a><b>false</b><c><sub>1</sub></c><name>z</name><e></e></m>
</ms>
"""),
    # names that differ only in case: one column on Spark 4; spark-xml infers two and Spark refuses them
    "case_names": ("r", """<rs>
  <r><Code>1</Code><n><Sub>1</Sub></n></r>
  <r><code>2</code><n><sub>x</sub></n></r>
</rs>
"""),
    # a truncated export: the last record never ends
    "truncated": ("r", """<data>
  <r><a>1</a></r>
  <r><a>2</a></r>
  <r><a>3
"""),
}


def write_case(folder: Path, name: str) -> tuple[Path, str]:
    """Write one case as folder/<name>.xml; (path, rowTag)."""
    row_tag, content = CASES[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.xml"
    path.write_text(content, encoding="utf-8")
    return path, row_tag
