"""Spark's types and Spark's type rules, in pure Python (no pyspark, no JVM).

One algebra (`algebra`: atomic types, decimals, arrays, maps, structs; `simple_string()` prints
exactly what ``DataType.simpleString()`` prints, which is what ``columns.data_type`` stores), and
one module per rule set of Spark's, each a port of the Scala object it names:

* `widening` -- TypeCoercion: findTightestCommonType, findWiderTypeForDecimal, findWiderTypeForTwo;
* `csv_inference` -- CSVInferSchema (and CSVUtils.makeSafeHeader);
* `json_inference` -- JsonInferSchema (compatibleType, compatibleRootType, canonicalizeType);
* `partition_inference` -- PartitioningUtils (inferPartitionColumnValue, the partition merge);
* `parquet_mapping` -- ParquetToSparkSchemaConverter, and the Arrow types pyarrow writes;
* `java_text` -- the Java parsers those rules call (Integer.parseInt, BigDecimal, java.time ...);
* `fallback` -- SparkFallback: what is outside the ported rules is left to Spark itself;
* `codec` -- types as plain JSON data and back, losslessly (what incremental records keep).
"""
